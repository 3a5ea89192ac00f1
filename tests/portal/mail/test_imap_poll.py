"""IMAP polling against a real Dovecot. New mail becomes a ticket, and \\Seen is set only
after the message is stored. A crash between storing and flagging stores nothing twice,
and a rejected sign-in shows in the mailbox's state and backs off."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import text

from portal.db import utcnow
from portal.mail.imap_client import ImapClient, ImapFailure, ImapTarget
from portal.mail.imap_models import ImapMailbox, ImapSecurity
from portal.mail.imap_poll import ImapPoller
from portal.models import Role
from portal.services import Services, build_services
from portal.settings import Settings
from tests.portal.mail.dovecot import Dovecot, dovecot  # noqa: F401
from tests.portal.mail.test_listener import email_tickets, finished_row, inbound_rows
from tests.support import ON_POSTGRESQL, Factory, PortalServer, TenantInfo, UserInfo, signed_in

MAILBOXES = "/apps/system/api/mail/mailboxes"
T = TypeVar("T")


@dataclass
class ImapWorkspace:
    tenant: TenantInfo
    admin: UserInfo
    user: str
    password: str


@pytest.fixture
def imap_workspace(factory: Factory, dovecot: Dovecot) -> ImapWorkspace:  # noqa: F811
    """A tenant with TicketCloud and its own account on the Dovecot server."""
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    admin = factory.user(tenant, Role.ADMIN)
    user, password = dovecot.new_account()
    return ImapWorkspace(tenant, admin, user, password)


def raw_message(subject: str, message_id: str, body: str = "The scanner is offline.") -> bytes:
    mail = EmailMessage()
    mail["From"] = "Robin Requester <robin@example.com>"
    mail["To"] = "support@example.com"
    mail["Subject"] = subject
    mail["Message-ID"] = message_id
    mail.set_content(body)
    return mail.as_bytes()


def mailbox_fields(dovecot: Dovecot, workspace: ImapWorkspace,  # noqa: F811
                   **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "Support inbox", "app_id": "ticketcloud", "host": dovecot.host,
        "port": dovecot.port, "security": "none", "username": workspace.user,
        "password": workspace.password, "interval_seconds": 60}
    fields.update(changes)
    return fields


def create_mailbox(client: httpx.Client, fields: dict[str, Any]) -> dict[str, Any]:
    response = client.post(MAILBOXES, json=fields)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def is_seen(flags: bytes) -> bool:
    return b"\\Seen" in flags


def test_imap_poll_new_mail_becomes_ticket(server: PortalServer, factory: Factory,
                                           dovecot: Dovecot,  # noqa: F811
                                           imap_workspace: ImapWorkspace) -> None:
    workspace = imap_workspace
    dovecot.append(workspace.user, workspace.password,
                   raw_message("Scanner offline", "<imap-1@example.com>"))
    with signed_in(server, workspace.admin) as client:
        mailbox = create_mailbox(client, mailbox_fields(dovecot, workspace))
        first = client.post(f"{MAILBOXES}/{mailbox['id']}/poll").json()
        second = client.post(f"{MAILBOXES}/{mailbox['id']}/poll").json()

    # The portal's job may have polled the new mailbox first, so the message is stored
    # by one of the three polls and counted once.
    assert first["ok"] is True
    assert first["mailbox"]["state"]["fetched_total"] == 1
    assert first["mailbox"]["state"]["last_error"] is None
    assert second["stored"] == 0
    assert second["duplicates"] == 0
    assert finished_row(factory, workspace.tenant)[1] == "processed"
    assert email_tickets(factory, workspace.tenant) == [
        (1, "Scanner offline", "robin@example.com", "email")]
    assert [is_seen(flags) for flags in dovecot.flags(workspace.user,
                                                      workspace.password).values()] == [True]


def test_imap_poll_moves_to_folder(server: PortalServer, factory: Factory,
                                   dovecot: Dovecot,  # noqa: F811
                                   imap_workspace: ImapWorkspace) -> None:
    workspace = imap_workspace
    client_imap = dovecot.connect(workspace.user, workspace.password)
    client_imap.create("Done")
    client_imap.logout()
    dovecot.append(workspace.user, workspace.password,
                   raw_message("Move me", "<imap-move@example.com>"))
    with signed_in(server, workspace.admin) as client:
        mailbox = create_mailbox(client, mailbox_fields(dovecot, workspace, move_to="Done"))
        result = client.post(f"{MAILBOXES}/{mailbox['id']}/poll").json()

    assert result["mailbox"]["state"]["fetched_total"] == 1
    assert dovecot.flags(workspace.user, workspace.password) == {}
    moved = list(dovecot.flags(workspace.user, workspace.password, "Done").values())
    assert len(moved) == 1
    assert is_seen(moved[0])
    assert finished_row(factory, workspace.tenant)[1] == "processed"


def test_imap_poll_wrong_password_backs_off(server: PortalServer, dovecot: Dovecot,  # noqa: F811
                                            imap_workspace: ImapWorkspace) -> None:
    workspace = imap_workspace
    wrong = "not-the-password-123"
    with signed_in(server, workspace.admin) as client:
        mailbox = create_mailbox(client, mailbox_fields(dovecot, workspace, password=wrong))
        first = client.post(f"{MAILBOXES}/{mailbox['id']}/poll")
        second = client.post(f"{MAILBOXES}/{mailbox['id']}/poll")
        check = client.post(f"{MAILBOXES}/{mailbox['id']}/check").json()
        listing = client.get(MAILBOXES)

    state_one = first.json()["mailbox"]["state"]
    state_two = second.json()["mailbox"]["state"]
    assert first.json()["ok"] is False
    assert "Authentication failed" in state_one["last_error"]
    # The portal's own job may poll the new mailbox before or between these polls, so
    # only the growth is fixed; each state's back-off follows its own failure count.
    assert state_one["failures"] >= 1
    assert state_two["failures"] > state_one["failures"]
    assert seconds_between(state_one["last_poll_at"], state_one["next_poll_at"]) == min(
        3600, 60 * 2 ** state_one["failures"])
    assert seconds_between(state_two["last_poll_at"], state_two["next_poll_at"]) == min(
        3600, 60 * 2 ** state_two["failures"])
    assert check["ok"] is False
    assert "Authentication failed" in check["message"]
    for response in (first, second, listing):
        assert wrong not in response.text
    assert wrong not in server.log()


def seconds_between(start: str, end: str) -> int:
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())


# In-process polls: the poller runs here against the server's database, with a client
# that checks or breaks the order of the steps.


def run_with_services(server: PortalServer,
                      work: Callable[[Services], Awaitable[T]]) -> T:
    async def run() -> T:
        settings = Settings(data_dir=server.data_dir, database_url=server.database_url,
                            secret_key="x" * 40)
        services = build_services(settings)
        try:
            return await work(services)
        finally:
            await services.inbound.stop()
            await services.db.dispose()

    return asyncio.run(run())


async def add_mailbox(services: Services, dovecot: Dovecot,  # noqa: F811
                      workspace: ImapWorkspace) -> int:
    async with services.db.transaction() as session:
        # Not due for a day, so that the server's own job leaves it to this test.
        mailbox = ImapMailbox(tenant_id=workspace.tenant.id, name="Inbox", app_id="ticketcloud",
                              host=dovecot.host, port=dovecot.port, security=ImapSecurity.NONE,
                              username=workspace.user, password=workspace.password,
                              next_poll_at=utcnow() + timedelta(days=1))
        session.add(mailbox)
        await session.flush()
        assert mailbox.id is not None
        return mailbox.id


class CheckingClient(ImapClient):
    """Records, at each step, whether the server still shows the message unseen and
    whether the portal's database already contains it."""

    def __init__(self, target: ImapTarget, *, dovecot: Dovecot,  # noqa: F811
                 database: str, events: list[str]) -> None:
        super().__init__(target)
        self.dovecot = dovecot
        self.database = database
        self.events = events

    def fetch(self, uid: int) -> bytes | None:
        raw = super().fetch(uid)
        seen = is_seen(self.dovecot.flags(self.target.username, self.target.password)[uid])
        self.events.append(f"fetched seen={seen} stored={self._stored()}")
        return raw

    def mark_seen(self, uid: int) -> None:
        self.events.append(f"flagging stored={self._stored()}")
        super().mark_seen(uid)

    def _stored(self) -> int:
        with sqlite3.connect(self.database) as connection:
            return int(connection.execute(
                "SELECT count(*) FROM portal_mail_inbound WHERE message_id = ?",
                ("<order@example.com>",)).fetchone()[0])


@pytest.mark.skipif(ON_POSTGRESQL, reason="reads the server's SQLite file directly from "
                    "inside the IMAP client, between fetch and flag")
def test_imap_poll_flags_only_after_storage(server: PortalServer, dovecot: Dovecot,  # noqa: F811
                                            imap_workspace: ImapWorkspace) -> None:
    workspace = imap_workspace
    dovecot.append(workspace.user, workspace.password,
                   raw_message("Order of steps", "<order@example.com>"))
    events: list[str] = []
    database = str(server.data_dir / "miportal.sqlite3")

    async def poll(services: Services) -> bool:
        mailbox_id = await add_mailbox(services, dovecot, workspace)
        poller = ImapPoller(services.db, services.inbound, client_factory=lambda target:
                            CheckingClient(target, dovecot=dovecot, database=database,
                                           events=events))
        return (await poller.poll(mailbox_id)).ok

    assert run_with_services(server, poll) is True
    assert events == ["fetched seen=False stored=0", "flagging stored=1"]


class CrashingClient(ImapClient):
    """Loses the connection when it flags a message, as a crash after storing would."""

    def mark_seen(self, uid: int) -> None:
        self.close()
        raise ImapFailure(f"Flagging message UID {uid} as seen failed: connection lost")


@pytest.mark.parametrize("uid_record_kept", [True, False], ids=["uid_record", "gateway_dedupe"])
def test_imap_poll_crash_before_flag_stores_once(server: PortalServer, factory: Factory,
                                                 dovecot: Dovecot,  # noqa: F811
                                                 imap_workspace: ImapWorkspace,
                                                 uid_record_kept: bool) -> None:
    workspace = imap_workspace
    dovecot.append(workspace.user, workspace.password,
                   raw_message("Crash test", "<crash@example.com>"))

    async def poll(services: Services) -> list[Any]:
        mailbox_id = await add_mailbox(services, dovecot, workspace)
        crashing = await ImapPoller(services.db, services.inbound,
                                    client_factory=CrashingClient).poll(mailbox_id)
        if not uid_record_kept:
            # As if the crash came before the UID was recorded: only the gateway's
            # Message-ID and SHA-256 check is left to catch the second fetch.
            await _execute(services, "DELETE FROM portal_mail_imap_seen WHERE mailbox_id = :id",
                           id=mailbox_id)
        unseen_after_crash = [not is_seen(flags) for flags in dovecot.flags(
            workspace.user, workspace.password).values()]
        recovered = await ImapPoller(services.db, services.inbound).poll(mailbox_id)
        return [crashing, unseen_after_crash, recovered]

    crashing, unseen_after_crash, recovered = run_with_services(server, poll)

    assert crashing.ok is False
    assert crashing.stored == 1
    assert "connection lost" in (crashing.error or "")
    assert unseen_after_crash == [True]
    assert recovered.ok is True
    assert recovered.stored == 0
    assert recovered.duplicates == 1
    assert len(inbound_rows(factory, workspace.tenant)) == 1
    assert finished_row(factory, workspace.tenant)[1] == "processed"
    assert len(email_tickets(factory, workspace.tenant)) == 1
    assert [is_seen(flags) for flags in dovecot.flags(workspace.user,
                                                      workspace.password).values()] == [True]


async def _execute(services: Services, statement: str, **params: object) -> list[Any]:
    async with services.db.transaction() as session:
        connection = await session.connection()
        result = await connection.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []
