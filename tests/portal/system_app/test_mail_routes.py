"""The Mail log API of the system app: inbound and outbound mail in one list with
filters, "retry now" for outbound mail, and a quarantined message replayed after the
admin fixed its cause."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from portal.db import Database
from portal.mail.inbound import RAW_FOLDER
from portal.models import Role
from tests.portal.mail.test_listener import (
    MailWorkspace,
    email_tickets,
    finished_row,
    message,
    send,
    wait_for,
    workspace,  # noqa: F401
)
from tests.support import Factory, PortalServer, signed_in

LOG = "/apps/system/api/mail/log"


def outbound_rows(factory: Factory, tenant_id: int) -> list[tuple[Any, ...]]:
    return factory.execute("SELECT id, status FROM portal_mail_outbox WHERE tenant_id = :tenant "
                           "ORDER BY id", tenant=tenant_id)


def mail_in_and_out(server: PortalServer, factory: Factory,
                    workspace: MailWorkspace) -> int:  # noqa: F811
    """Send a message that becomes a ticket, whose confirmation waits in the outbox;
    return the outbox row's id."""
    send(server, message(workspace.address, message_id="<log-1@example.com>"))
    assert finished_row(factory, workspace.tenant)[1] == "processed"
    rows = wait_for(lambda: outbound_rows(factory, workspace.tenant.id))
    return int(rows[0][0])


def test_mail_log_lists_both_directions(server: PortalServer, factory: Factory,
                                        workspace: MailWorkspace) -> None:  # noqa: F811
    outbox_id = mail_in_and_out(server, factory, workspace)
    with signed_in(server, workspace.admin) as client:
        everything = client.get(LOG).json()["items"]
        inbound = client.get(LOG, params={"direction": "in"}).json()["items"]
        problems = client.get(LOG, params={"status": "problems"}).json()["items"]
        invalid = client.get(LOG, params={"direction": "sideways"})

    assert sorted(item["direction"] for item in everything) == ["in", "out"]
    received = next(item for item in everything if item["direction"] == "in")
    sent = next(item for item in everything if item["direction"] == "out")
    assert received["status"] == "processed"
    assert received["outcome"] == "created ticket #1"
    assert received["subject"] == "Printer broken"
    assert sent["id"] == outbox_id
    assert sent["to"] == ["customer@example.com"]
    assert sent["subject"].startswith("[#1] ")
    assert [item["direction"] for item in inbound] == ["in"]
    # The portal under test has no relay, so the confirmation waits for one.
    assert [(item["direction"], item["status"]) for item in problems] == [("out", "no_relay")]
    assert problems[0]["next_attempt_at"] is not None
    assert invalid.status_code == 422
    assert invalid.json()["error"]["field"] == "direction"


def test_mail_log_retry_failed_now(server: PortalServer, factory: Factory,
                                   workspace: MailWorkspace) -> None:  # noqa: F811
    outbox_id = mail_in_and_out(server, factory, workspace)
    later = datetime.now(UTC) + timedelta(days=1)
    factory.execute("UPDATE portal_mail_outbox SET status = 'failed', attempts = 12, "
                    "next_attempt_at = :later, last_error = '550 5.1.1 no such user' "
                    "WHERE id = :id", id=outbox_id, later=later.replace(tzinfo=None))
    with signed_in(server, workspace.admin) as client:
        failed = client.get(LOG, params={"status": "failed"}).json()["items"]
        retried = client.post(f"/apps/system/api/mail/outbox/{outbox_id}/retry")

    item = retried.json()["item"]
    assert [entry["error"] for entry in failed] == ["550 5.1.1 no such user"]
    assert retried.status_code == 200, retried.text
    assert item["status"] == "retrying"
    assert datetime.fromisoformat(item["next_attempt_at"]) < later
    # Without a relay the worker moves it on to waiting for one.
    assert wait_for(lambda: outbound_rows(factory, workspace.tenant.id)[0][1] == "no_relay")


def test_mail_log_retry_sent_conflict(server: PortalServer, factory: Factory,
                                      workspace: MailWorkspace) -> None:  # noqa: F811
    outbox_id = mail_in_and_out(server, factory, workspace)
    factory.execute("UPDATE portal_mail_outbox SET status = 'sent' WHERE id = :id", id=outbox_id)
    with signed_in(server, workspace.admin) as client:
        response = client.post(f"/apps/system/api/mail/outbox/{outbox_id}/retry")

    assert response.status_code == 409
    assert response.json()["error"]["field"] == "outbox_id"


@pytest.mark.parametrize("role", [Role.AGENT, Role.CUSTOMER])
def test_mail_log_needs_admin(server: PortalServer, factory: Factory,
                              workspace: MailWorkspace, role: Role) -> None:  # noqa: F811
    outbox_id = mail_in_and_out(server, factory, workspace)
    user = factory.user(workspace.tenant, role)
    with signed_in(server, user) as client:
        listing = client.get(LOG)
        retry = client.post(f"/apps/system/api/mail/outbox/{outbox_id}/retry")

    assert listing.status_code == 403
    assert retry.status_code == 403


def test_mail_log_other_tenant_hidden(server: PortalServer, factory: Factory,
                                      workspace: MailWorkspace) -> None:  # noqa: F811
    outbox_id = mail_in_and_out(server, factory, workspace)
    other = factory.tenant()
    other_admin = factory.user(other, Role.ADMIN)
    with signed_in(server, other_admin) as client:
        listing = client.get(LOG)
        retry = client.post(f"/apps/system/api/mail/outbox/{outbox_id}/retry")

    assert listing.json()["items"] == []
    assert retry.status_code == 404


def store_while_uninstalled(server: PortalServer, tenant_id: int, raw: bytes) -> None:
    """Store a message for TicketCloud and uninstall the app in one transaction, as when
    an admin uninstalls it between the message's arrival and its processing. One
    transaction keeps the portal's processing job from running in between."""
    sha256 = hashlib.sha256(raw).hexdigest()
    path = server.data_dir / RAW_FOLDER / sha256[:2] / f"{sha256}.eml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)

    async def arrange() -> None:
        db = Database(server.database_url)
        try:
            async with db.transaction() as session:
                connection = await session.connection()
                await connection.execute(text(
                    "UPDATE portal_app_installation SET status = 'uninstalled' "
                    "WHERE tenant_id = :tenant AND app_id = 'ticketcloud'"), {"tenant": tenant_id})
                await connection.execute(text(
                    "INSERT INTO portal_mail_inbound (tenant_id, app_id, recipient, "
                    "envelope_sender, message_id, sha256, size, status, subject, from_address, "
                    "attempts, received_at) VALUES (:tenant, 'ticketcloud', 'support@x.test', "
                    "'', '<fix@example.com>', :sha, :size, 'received', '', '', 0, :now)"),
                    {"tenant": tenant_id, "sha": sha256, "size": len(raw),
                     "now": datetime.now(UTC).replace(tzinfo=None)})
        finally:
            await db.dispose()

    asyncio.run(arrange())


def test_replay_after_fix_creates_ticket(server: PortalServer, factory: Factory,
                                         workspace: MailWorkspace) -> None:  # noqa: F811
    raw = bytes(message(workspace.address, subject="Lost VPN token",
                        message_id="<fix@example.com>"))
    store_while_uninstalled(server, workspace.tenant.id, raw)
    quarantined = finished_row(factory, workspace.tenant)
    with signed_in(server, workspace.admin) as client:
        too_early = client.post(f"/apps/system/api/mail/{quarantined[0]}/replay")
        installed = client.post("/api/admin/apps/ticketcloud/install")
        replayed = client.post(f"/apps/system/api/mail/{quarantined[0]}/replay")
        again = client.post(f"/apps/system/api/mail/{quarantined[0]}/replay")

    assert quarantined[1] == "quarantined"
    assert "not installed" in quarantined[3]
    assert too_early.json()["status"] == "quarantined"
    assert installed.status_code == 200, installed.text
    assert replayed.json()["status"] == "processed"
    assert replayed.json()["item"]["outcome"] == "created ticket #1"
    assert replayed.json()["item"]["attempts"] == 3
    assert again.status_code == 409
    assert email_tickets(factory, workspace.tenant) == [
        (1, "Lost VPN token", "customer@example.com", "email")]


@pytest.mark.parametrize(("path", "query", "name"), [
    (LOG, "problems=1", "problems"),
    (LOG, "status=problems&status=sent", "status"),
    ("/apps/system/api/mail", "state=received", "state"),
])
def test_mail_lists_reject_unknown_query(server: PortalServer, workspace: MailWorkspace,  # noqa: F811
                                         path: str, query: str, name: str) -> None:
    """A mistyped filter is an error, not a silently unfiltered list."""
    with signed_in(server, workspace.admin) as client:
        response = client.get(f"{path}?{query}")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == name
    assert repr(name) in error["message"]
