"""One poller per IMAP mailbox at a time, through the database lease `imap:mailbox:<id>`.
Two pollers with their own services on one database and one Dovecot mailbox store each
message once. A poller process killed in the middle of a poll hands the mailbox over
when its lease expires, with nothing lost or stored twice."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from portal import leases
from portal.mail.imap_client import ImapClient, ImapTarget
from portal.mail.imap_poll import ImapPoller, MailboxBusy, PollResult, lease_name
from portal.services import Services, build_services
from portal.settings import REPOSITORY_ROOT, Settings
from tests.portal.mail.dovecot import Dovecot, dovecot  # noqa: F401
from tests.portal.mail.test_imap_poll import (  # noqa: F401
    ImapWorkspace,
    add_mailbox,
    imap_workspace,
    is_seen,
    raw_message,
    run_with_services,
)
from tests.portal.mail.test_imap_recovery import finished_rows
from tests.portal.mail.test_listener import email_tickets, wait_for
from tests.support import Factory, PortalServer

MESSAGES = 8
LEASE_SECONDS = 3.0
WAIT_SECONDS = 30.0


class GatedClient(ImapClient):
    """Holds the first fetch until the test opens the gate, so that a second poller
    tries the mailbox while this poll is under way."""

    def __init__(
        self, target: ImapTarget, *, entered: threading.Event, gate: threading.Event
    ) -> None:
        super().__init__(target)
        self.entered = entered
        self.gate = gate

    def fetch(self, uid: int) -> bytes | None:
        self.entered.set()
        if not self.gate.wait(WAIT_SECONDS):
            raise AssertionError("the test never opened the gate")
        return super().fetch(uid)


def append_messages(dovecot: Dovecot, workspace: ImapWorkspace, tag: str) -> list[str]:  # noqa: F811
    ids = [f"<lease-{tag}-{index}@example.com>" for index in range(MESSAGES)]
    for index, message_id in enumerate(ids):
        dovecot.append(
            workspace.user, workspace.password, raw_message(f"Lease {tag} {index}", message_id)
        )
    return ids


def check_stored_once(
    factory: Factory,
    dovecot: Dovecot,  # noqa: F811
    workspace: ImapWorkspace,
    ids: list[str],
) -> None:
    rows = wait_for(lambda: finished_rows(factory, workspace.tenant))
    assert sorted(row[4] for row in rows) == sorted(ids)
    assert [row[1] for row in rows] == ["processed"] * MESSAGES
    assert len(email_tickets(factory, workspace.tenant)) == MESSAGES
    flags = dovecot.flags(workspace.user, workspace.password)
    assert len(flags) == MESSAGES
    assert all(is_seen(item) for item in flags.values())


def test_imap_lease_second_poller_waits(
    server: PortalServer,
    factory: Factory,
    dovecot: Dovecot,  # noqa: F811
    imap_workspace: ImapWorkspace,  # noqa: F811
) -> None:
    workspace = imap_workspace
    ids = append_messages(dovecot, workspace, "two")
    entered, gate = threading.Event(), threading.Event()

    async def poll_twice(first_services: Services) -> tuple[PollResult, str, PollResult]:
        mailbox_id = await add_mailbox(first_services, dovecot, workspace)
        second_services = build_services(
            Settings(
                data_dir=server.data_dir, database_url=server.database_url, secret_key="x" * 40
            )
        )
        first = ImapPoller(
            first_services.db,
            first_services.inbound,
            owner="poller-one",
            client_factory=lambda target: GatedClient(target, entered=entered, gate=gate),
        )
        second = ImapPoller(second_services.db, second_services.inbound, owner="poller-two")
        try:
            running = asyncio.create_task(first.poll(mailbox_id))
            assert await asyncio.to_thread(entered.wait, WAIT_SECONDS)
            with pytest.raises(MailboxBusy) as busy:
                await second.poll(mailbox_id)
            gate.set()
            first_result = await running
            second_result = await second.poll(mailbox_id)
        finally:
            gate.set()
            await second_services.inbound.stop()
            await second_services.db.dispose()
        return first_result, busy.value.message, second_result

    first, busy_message, second = run_with_services(server, poll_twice)

    assert "being polled by another portal process" in busy_message
    assert first.ok is True
    assert first.stored == MESSAGES
    assert second.ok is True
    assert second.stored == 0
    assert second.duplicates == 0
    check_stored_once(factory, dovecot, workspace, ids)


def test_imap_lease_taken_over_after_kill(
    server: PortalServer,
    factory: Factory,
    dovecot: Dovecot,  # noqa: F811
    imap_workspace: ImapWorkspace,  # noqa: F811
    tmp_path: Path,
) -> None:
    workspace = imap_workspace
    ids = append_messages(dovecot, workspace, "kill")
    block_at = 3
    mailbox_id = run_with_services(
        server, lambda services: add_mailbox(services, dovecot, workspace)
    )
    marker = tmp_path / "blocked"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.portal.mail.imap_lease_child",
            "--data-dir",
            str(server.data_dir),
            "--database-url",
            server.database_url,
            "--mailbox",
            str(mailbox_id),
            "--block-at",
            str(block_at),
            "--marker",
            str(marker),
            "--lease-seconds",
            str(LEASE_SECONDS),
        ],
        cwd=REPOSITORY_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: marker.exists() or child.poll() is not None)
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
    finally:
        child.kill()
        child.wait()
        if child.stderr is not None:
            child.stderr.close()

    async def take_over(services: Services) -> tuple[bool, PollResult, float]:
        survivor = ImapPoller(
            services.db,
            services.inbound,
            owner="survivor",
            lease_time=timedelta(seconds=LEASE_SECONDS),
        )
        killed_at = time.monotonic()
        # The dead process renewed its lease until the kill, so the lease is still held.
        held_by_dead = not await leases.claim(
            services.db, lease_name(mailbox_id), "probe", timedelta(seconds=1)
        )
        while True:
            attempt_at = time.monotonic()
            try:
                result = await survivor.poll(mailbox_id)
            except MailboxBusy:
                if attempt_at - killed_at > WAIT_SECONDS:
                    raise
                await asyncio.sleep(0.05)
                continue
            return held_by_dead, result, attempt_at - killed_at

    held_by_dead, result, waited = run_with_services(server, take_over)

    assert held_by_dead is True
    # The dead process's lease lasted at most LEASE_SECONDS past its last renewal.
    assert waited <= LEASE_SECONDS + 1
    assert result.ok is True
    # The dead process stored and flagged messages 1 to block_at - 1. It stored and
    # recorded message block_at but did not flag it, so that one only gets its flag now.
    assert result.stored == MESSAGES - block_at
    assert result.duplicates == 1
    check_stored_once(factory, dovecot, workspace, ids)
