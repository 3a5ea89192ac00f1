"""IMAP polling when the server goes away in the middle of a poll: a Dovecot of this
test's own is stopped from inside the poll, started again on the same port and folder,
and the next poll stores every message exactly once and flags each one \\Seen."""

from __future__ import annotations

import imaplib
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from portal.mail.imap_client import ImapClient, ImapTarget
from portal.mail.imap_poll import ImapPoller, PollResult
from portal.models import Role
from portal.services import Services
from tests.portal.mail.dovecot import (
    DOVECOT,
    START_SECONDS,
    Dovecot,
    account,
    start_dovecot,
    stop_dovecot,
)
from tests.portal.mail.test_imap_poll import (
    ImapWorkspace,
    add_mailbox,
    is_seen,
    raw_message,
    run_with_services,
)
from tests.portal.mail.test_listener import email_tickets, inbound_rows, wait_for
from tests.support import Factory, PortalServer, TenantInfo

MESSAGES = 4


def stop_only(server: Dovecot) -> None:
    """Stop Dovecot and its IMAP processes but keep its folder (mail, configuration)."""
    server.process.terminate()
    server.process.wait(timeout=10)
    if server.process.stderr is not None:
        server.process.stderr.close()


def restart(server: Dovecot) -> None:
    """Start Dovecot again with the same configuration, so on the same port and mail."""
    server.process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(server.folder / "dovecot.conf")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            imaplib.IMAP4(server.host, server.port, timeout=2).logout()
            return
        except OSError:
            if server.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Dovecot did not restart:\n{server.log()}") from None
            time.sleep(0.05)


@pytest.fixture
def own_dovecot() -> Iterator[Dovecot]:
    """A Dovecot that this test may stop, apart from the session's shared one."""
    server = start_dovecot()
    yield server
    stop_dovecot(server)


@dataclass
class StopAt:
    """Where the server is stopped: after the first fetch (before anything is stored)
    or after the first message is flagged (the second fetch then fails)."""

    step: str
    server: Dovecot
    done: bool = False

    def reached(self, step: str, client: imaplib.IMAP4) -> None:
        if step != self.step or self.done:
            return
        self.done = True
        stop_only(self.server)
        # Dovecot 2.3's IMAP processes keep serving established sessions after the
        # master stops, so the connection is dropped here as a crashed server drops it.
        client.sock.shutdown(socket.SHUT_RDWR)


class StoppingClient(ImapClient):
    def __init__(self, target: ImapTarget, *, stop_at: StopAt) -> None:
        super().__init__(target)
        self.stop_at = stop_at

    def fetch(self, uid: int) -> bytes | None:
        raw = super().fetch(uid)
        self.stop_at.reached("fetch", self._connection())
        return raw

    def mark_seen(self, uid: int) -> None:
        super().mark_seen(uid)
        self.stop_at.reached("flag", self._connection())


def finished_rows(factory: Factory, tenant: TenantInfo) -> list[tuple[Any, ...]] | None:
    """Return the tenant's inbound rows once none is still waiting to be processed."""
    rows = inbound_rows(factory, tenant)
    return rows if rows and all(row[1] != "received" for row in rows) else None


@pytest.mark.parametrize("step", ["fetch", "flag"])
def test_imap_recovery_server_stopped_mid_poll(server: PortalServer, factory: Factory,
                                               own_dovecot: Dovecot, step: str) -> None:
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    user, password = account(1)
    workspace = ImapWorkspace(tenant, factory.user(tenant, Role.ADMIN), user, password)
    for index in range(MESSAGES):
        own_dovecot.append(user, password, raw_message(
            f"Recovery {step} {index}", f"<recovery-{step}-{index}@example.com>"))
    stop_at = StopAt(step, own_dovecot)

    async def poll(services: Services) -> tuple[PollResult, PollResult]:
        mailbox_id = await add_mailbox(services, own_dovecot, workspace)
        broken = await ImapPoller(services.db, services.inbound, client_factory=lambda target:
                                  StoppingClient(target, stop_at=stop_at)).poll(mailbox_id)
        restart(own_dovecot)
        recovered = await ImapPoller(services.db, services.inbound).poll(mailbox_id)
        return broken, recovered

    broken, recovered = run_with_services(server, poll)

    assert stop_at.done is True
    assert broken.ok is False
    assert broken.stored == 1
    assert recovered.ok is True
    assert recovered.stored == MESSAGES - 1
    assert recovered.duplicates == (1 if step == "fetch" else 0)
    rows = wait_for(lambda: finished_rows(factory, tenant))
    assert sorted(row[4] for row in rows) == [f"<recovery-{step}-{index}@example.com>"
                                             for index in range(MESSAGES)]
    assert [row[1] for row in rows] == ["processed"] * MESSAGES
    assert len(email_tickets(factory, tenant)) == MESSAGES
    flags = own_dovecot.flags(user, password)
    assert len(flags) == MESSAGES
    assert all(is_seen(item) for item in flags.values())
