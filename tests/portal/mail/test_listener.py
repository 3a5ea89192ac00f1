"""The inbound SMTP listener and the MTA pipe, against a running portal: real SMTP
conversations, the stored rows, TicketCloud's tickets, and the Mail window's API."""

from __future__ import annotations

import asyncio
import os
import smtplib
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest

from portal.models import Role
from portal.settings import REPOSITORY_ROOT
from tests.support import Factory, PortalServer, TenantInfo, UserInfo, signed_in

MAIL_SETTINGS = "/apps/ticketcloud/api/v1/settings/mail"
WAIT_SECONDS = 30.0


@dataclass
class MailWorkspace:
    tenant: TenantInfo
    admin: UserInfo
    address: str


@pytest.fixture
def workspace(server: PortalServer, factory: Factory) -> MailWorkspace:
    """A fresh tenant with TicketCloud installed and a support address set by its admin
    through the REST API."""
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    admin = factory.user(tenant, Role.ADMIN)
    address = f"support@{tenant.slug}.localhost"
    with signed_in(server, admin) as client:
        response = client.put(MAIL_SETTINGS, json={"support_address": address.upper()})
    assert response.status_code == 200, response.text
    assert response.json()["support_address"] == address
    return MailWorkspace(tenant, admin, address)


def message(to: str, *, subject: str = "Printer broken", message_id: str | None = None,
            sender: str = "customer@example.com", headers: dict[str, str] | None = None,
            body: str = "The printer on floor 2 jams.") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Casey Customer <{sender}>"
    mail["To"] = to
    mail["Subject"] = subject
    if message_id:
        mail["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    return mail


def wait_for(check: Callable[[], Any], *, timeout: float = WAIT_SECONDS) -> Any:
    """Return the first truthy result of `check`, polling until `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


def inbound_rows(factory: Factory, tenant: TenantInfo) -> list[tuple[Any, ...]]:
    return factory.execute(
        "SELECT id, status, outcome, error, message_id, attempts, size FROM "
        "portal_mail_inbound WHERE tenant_id = :tenant ORDER BY id", tenant=tenant.id)


def finished_row(factory: Factory, tenant: TenantInfo, index: int = 0) -> tuple[Any, ...]:
    def check() -> tuple[Any, ...] | None:
        rows = inbound_rows(factory, tenant)
        if len(rows) > index and rows[index][1] != "received":
            return rows[index]
        return None

    return wait_for(check)  # type: ignore[no-any-return]


def email_tickets(factory: Factory, tenant: TenantInfo) -> list[tuple[Any, ...]]:
    return factory.execute(
        "SELECT number, subject, requester_email, channel FROM ticketcloud_ticket "
        "WHERE tenant_id = :tenant ORDER BY number", tenant=tenant.id)


def send(server: PortalServer, mail: EmailMessage, *recipients: str) -> Any:
    """Send `mail` over SMTP with aiosmtplib; return its (errors, reply) result."""
    return asyncio.run(aiosmtplib.send(mail, hostname="127.0.0.1", port=server.smtp_port,
                                       recipients=list(recipients) or None, timeout=30))


def test_listener_accepts_and_creates_ticket(server: PortalServer, factory: Factory,
                                                   workspace: MailWorkspace) -> None:
    errors, reply = send(server, message(workspace.address, message_id="<a1@example.com>"))

    assert errors == {}
    assert reply.startswith("2.0.0 Message accepted")
    row = finished_row(factory, workspace.tenant)
    assert row[1] == "processed"
    assert row[2] == "created ticket #1"
    assert row[4] == "<a1@example.com>"
    assert email_tickets(factory, workspace.tenant) == [
        (1, "Printer broken", "customer@example.com", "email")]


def test_listener_attachments_reach_ticket(server: PortalServer, factory: Factory,
                                                 workspace: MailWorkspace) -> None:
    mail = message(workspace.address)
    mail.add_attachment(b"%PDF-1.4 invoice", maintype="application", subtype="pdf",
                        filename="Rechnung März.pdf")
    send(server, mail)

    assert finished_row(factory, workspace.tenant)[1] == "processed"
    rows = factory.execute(
        "SELECT filename, content_type, size FROM ticketcloud_attachment "
        "WHERE tenant_id = :tenant", tenant=workspace.tenant.id)
    assert rows == [("Rechnung März.pdf", "application/pdf", 16)]


def test_listener_unknown_recipient_rejected_550(server: PortalServer) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as raised:
        send(server, message("nobody@nowhere.localhost"))

    refusal = raised.value.recipients[0]
    assert refusal.code == 550
    assert refusal.message.startswith("5.1.1")
    assert "Rejected RCPT TO 'nobody@nowhere.localhost'" in server.log()


def test_listener_advertises_size_and_rejects_declared_size_552(
        server: PortalServer, workspace: MailWorkspace) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        code, _ = client.ehlo("test.example")
        limit = int(client.esmtp_features["size"])
        mail_code, mail_reply = client.mail("customer@example.com", [f"SIZE={limit + 1}"])

    assert code == 250
    assert limit == 32 * 1024 * 1024
    assert mail_code == 552
    assert mail_reply.startswith(b"5.3.4")


def test_listener_oversized_data_rejected_552(server: PortalServer, factory: Factory,
                                              workspace: MailWorkspace) -> None:
    line = b"x" * 998 + b"\r\n"
    body = line * (32 * 1024 * 1024 // len(line) + 10)
    raw = (f"From: customer@example.com\r\nTo: {workspace.address}\r\nSubject: big\r\n\r\n"
           .encode() + body)
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as client:
        client.ehlo("test.example")
        client.mail("customer@example.com")
        client.rcpt(workspace.address)
        code, reply = client.data(raw)

    assert code == 552
    assert reply.startswith(b"5.3.4")
    assert inbound_rows(factory, workspace.tenant) == []


def test_listener_duplicate_stored_once(server: PortalServer, factory: Factory,
                                              workspace: MailWorkspace) -> None:
    mail = message(workspace.address, message_id="<same@example.com>")
    first = send(server, mail)
    second = send(server, mail)

    assert first[1].startswith("2.0.0")
    assert second[1].startswith("2.0.0")
    finished_row(factory, workspace.tenant)
    rows = inbound_rows(factory, workspace.tenant)
    assert len(rows) == 1
    assert len(email_tickets(factory, workspace.tenant)) == 1


def test_listener_concurrent_sessions_answer_after_commit(
        server: PortalServer, factory: Factory, workspace: MailWorkspace) -> None:
    """Eight sessions send at once, so their stores share transactions (group commit).
    The row that each 250 names is committed when the client reads the reply."""

    async def send_one(index: int) -> tuple[str, list[tuple[Any, ...]]]:
        mail = message(workspace.address, subject=f"Request {index}",
                       message_id=f"<together{index}@example.com>")
        _errors, reply = await aiosmtplib.send(mail, hostname="127.0.0.1",
                                               port=server.smtp_port, timeout=30)
        inbound_id = int(reply.rsplit("(id ", 1)[1].rstrip(")"))
        row = factory.execute("SELECT tenant_id, message_id FROM portal_mail_inbound "
                              "WHERE id = :id", id=inbound_id)
        return reply, row

    async def send_all() -> list[tuple[str, list[tuple[Any, ...]]]]:
        return await asyncio.gather(*(send_one(index) for index in range(8)))

    results = asyncio.run(send_all())

    for index, (reply, row) in enumerate(results):
        assert reply.startswith("2.0.0 Message accepted"), reply
        assert row == [(workspace.tenant.id, f"<together{index}@example.com>")]

    def all_processed() -> list[tuple[Any, ...]] | None:
        rows = inbound_rows(factory, workspace.tenant)
        done = len(rows) == 8 and all(row[1] == "processed" for row in rows)
        return rows if done else None

    assert len(wait_for(all_processed)) == 8
    assert len(email_tickets(factory, workspace.tenant)) == 8


def test_listener_automatic_mail_creates_no_ticket(
        server: PortalServer, factory: Factory, workspace: MailWorkspace) -> None:
    mail = message(workspace.address, subject="Automatic reply: Printer",
                   headers={"Auto-Submitted": "auto-replied"})
    send(server, mail)

    row = finished_row(factory, workspace.tenant)
    assert row[1] == "processed"
    assert row[2].startswith("ignored: automatic mail (Auto-Submitted: auto-replied")
    assert email_tickets(factory, workspace.tenant) == []


def run_pipe(server: PortalServer, raw: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "portal", "--data-dir", str(server.data_dir),
         "--database-url", server.database_url, "mail", "receive", *args], input=raw,
        capture_output=True, cwd=REPOSITORY_ROOT, timeout=60,
        check=False)


def test_pipe_stores_and_portal_processes(server: PortalServer, factory: Factory,
                                          workspace: MailWorkspace) -> None:
    raw = bytes(message(workspace.address, message_id="<pipe@example.com>"))
    result = run_pipe(server, raw, "--recipient", workspace.address, "--sender",
                      "customer@example.com")

    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("Stored inbound mail ")
    row = finished_row(factory, workspace.tenant)
    assert row[1] == "processed"
    assert len(email_tickets(factory, workspace.tenant)) == 1


def test_pipe_duplicate_reported(server: PortalServer, workspace: MailWorkspace) -> None:
    raw = bytes(message(workspace.address, message_id="<pipe-twice@example.com>"))
    run_pipe(server, raw, "--recipient", workspace.address)
    result = run_pipe(server, raw, "--recipient", workspace.address)

    assert result.returncode == 0
    assert "(duplicate)" in result.stdout.decode()


def test_pipe_unknown_recipient_exit_67(server: PortalServer) -> None:
    result = run_pipe(server, b"Subject: x\r\n\r\nx\r\n", "--recipient", "nobody@x.localhost")

    assert result.returncode == 67
    assert result.stderr.decode().strip() == \
        "error: No app receives mail for 'nobody@x.localhost'."


@pytest.mark.parametrize("path", ["missing.sqlite3", "missing/db.sqlite3"])
def test_pipe_missing_database_exit_75(tmp_path: Path, path: str) -> None:
    database = tmp_path / path
    data_dir = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "portal", "--data-dir", str(data_dir), "--database-url",
         f"sqlite+aiosqlite:///{database}", "mail", "receive",
         "--recipient", "support@x.localhost"], input=b"Subject: x\r\n\r\nx\r\n",
        capture_output=True, cwd=REPOSITORY_ROOT, timeout=60, check=False)

    assert result.returncode == 75
    assert result.stderr.decode().strip().endswith(
        f"error: the database file {database} does not exist; start the portal once or run "
        "`python -m portal migrate` with the same --data-dir or --database-url, then "
        "deliver again")
    assert not database.exists()
    # No secret key either: the data folder is left as it was, here not even created.
    assert not data_dir.exists()


def test_pipe_empty_data_folder_left_alone(tmp_path: Path) -> None:
    """With the default SQLite file of a data folder that contains no portal, the pipe
    exits 75 and writes nothing there, not even a secret key."""
    result = subprocess.run(
        [sys.executable, "-m", "portal", "--data-dir", str(tmp_path), "mail", "receive",
         "--recipient", "support@x.localhost"], input=b"Subject: x\r\n\r\nx\r\n",
        capture_output=True, cwd=REPOSITORY_ROOT, timeout=60, check=False,
        env={**os.environ, "MIPORTAL_DATABASE_URL": ""})

    assert result.returncode == 75
    assert "does not exist; start the portal once" in result.stderr.decode()
    assert list(tmp_path.iterdir()) == []


def test_pipe_unmigrated_database_exit_75(tmp_path: Path) -> None:
    (tmp_path / "empty.sqlite3").touch()
    result = subprocess.run(
        [sys.executable, "-m", "portal", "--data-dir", str(tmp_path), "--database-url",
         f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}", "mail", "receive",
         "--recipient", "support@x.localhost"], input=b"Subject: x\r\n\r\nx\r\n",
        capture_output=True, cwd=REPOSITORY_ROOT, timeout=60, check=False)

    assert result.returncode == 75
    assert result.stderr.decode().strip().endswith(
        "error: the database is not set up for this portal version yet; start the portal "
        "once or run `python -m portal migrate`, then deliver again")


def test_pipe_uninstalled_app_exit_67(server: PortalServer, workspace: MailWorkspace) -> None:
    uninstall = subprocess.run(
        [sys.executable, "-m", "portal", "--data-dir", str(server.data_dir), "--database-url",
         server.database_url, "apps", "uninstall", "ticketcloud", "--tenant",
         workspace.tenant.slug], capture_output=True, cwd=REPOSITORY_ROOT, timeout=60,
        check=False)
    assert uninstall.returncode == 0, uninstall.stderr

    result = run_pipe(server, b"Subject: x\r\n\r\nx\r\n", "--recipient", workspace.address)

    assert result.returncode == 67
    assert result.stderr.decode().strip() == \
        f"error: No app receives mail for {workspace.address!r}."


# What a pipe run must not import: an MTA starts one per message, and storing needs
# none of the apps, the services, the migrations or the web stack.
PIPE_UNNEEDED_MODULES = ("portal.admin_commands", "portal.services", "portal.registry.registry",
                         "portal.registry.installations", "portal.sdk", "portal.web",
                         "portal.migrate", "starlette", "alembic", "ticketcloud")


def test_pipe_loads_no_apps_or_web_stack(server: PortalServer,
                                          workspace: MailWorkspace) -> None:
    raw = bytes(message(workspace.address, message_id="<pipe-imports@example.com>"))
    script = ("import sys\nfrom portal.cli import main\nstatus = main(sys.argv[1:])\n"
              "print(' '.join(sorted(sys.modules)))\nraise SystemExit(status)")
    result = subprocess.run(
        [sys.executable, "-c", script, "--data-dir", str(server.data_dir), "--database-url",
         server.database_url, "mail", "receive", "--recipient", workspace.address],
        input=raw, capture_output=True, cwd=REPOSITORY_ROOT, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    stored, modules = result.stdout.decode().splitlines()
    assert stored.startswith("Stored inbound mail ")
    assert [name for name in modules.split()
            if any(name == unneeded or name.startswith(f"{unneeded}.")
                   for unneeded in PIPE_UNNEEDED_MODULES)] == []


def quarantine_one(server: PortalServer, factory: Factory, workspace: MailWorkspace) -> int:
    """Send a message whose sender TicketCloud rejects, so that it is quarantined."""
    raw = bytes(message(workspace.address, sender="someone@localhost"))
    assert run_pipe(server, raw, "--recipient", workspace.address).returncode == 0
    row = finished_row(factory, workspace.tenant)
    assert row[1] == "quarantined"
    return int(row[0])


def test_mail_window_lists_quarantine_with_error(server: PortalServer, factory: Factory,
                                                 workspace: MailWorkspace) -> None:
    inbound_id = quarantine_one(server, factory, workspace)
    with signed_in(server, workspace.admin) as client:
        listing = client.get("/apps/system/api/mail", params={"status": "quarantined"})
        page = client.get("/apps/system/mail")

    assert listing.status_code == 200
    item = listing.json()["items"][0]
    assert item["id"] == inbound_id
    assert item["status"] == "quarantined"
    assert "someone@localhost" in item["error"]
    assert item["size"] > 0
    assert page.status_code == 200


def test_mail_window_replay_counts_attempt(server: PortalServer, factory: Factory,
                                           workspace: MailWorkspace) -> None:
    inbound_id = quarantine_one(server, factory, workspace)
    with signed_in(server, workspace.admin) as client:
        replayed = client.post(f"/apps/system/api/mail/{inbound_id}/replay")

    assert replayed.status_code == 200
    assert replayed.json()["status"] == "quarantined"
    assert replayed.json()["item"]["attempts"] == 2


def test_mail_window_replay_processed_conflict(server: PortalServer, factory: Factory,
                                               workspace: MailWorkspace) -> None:
    run_pipe(server, bytes(message(workspace.address)), "--recipient", workspace.address)
    inbound_id = int(finished_row(factory, workspace.tenant)[0])
    with signed_in(server, workspace.admin) as client:
        response = client.post(f"/apps/system/api/mail/{inbound_id}/replay")

    assert response.status_code == 409


@pytest.mark.parametrize("role", [Role.AGENT, Role.CUSTOMER])
def test_mail_window_needs_admin(server: PortalServer, factory: Factory,
                                 workspace: MailWorkspace, role: Role) -> None:
    user = factory.user(workspace.tenant, role)
    with signed_in(server, user) as client:
        listing = client.get("/apps/system/api/mail")
        replay = client.post("/apps/system/api/mail/1/replay")

    assert listing.status_code == 403
    assert replay.status_code == 403


def test_mail_window_other_tenant_not_found(server: PortalServer, factory: Factory,
                                            workspace: MailWorkspace) -> None:
    inbound_id = quarantine_one(server, factory, workspace)
    other = factory.tenant()
    other_admin = factory.user(other, Role.ADMIN)
    with signed_in(server, other_admin) as client:
        listing = client.get("/apps/system/api/mail")
        replay = client.post(f"/apps/system/api/mail/{inbound_id}/replay")

    assert listing.json()["items"] == []
    assert replay.status_code == 404


HUGE_ID = 10**20


@pytest.mark.parametrize(("method", "path", "field"), [
    ("POST", f"/apps/system/api/mail/{HUGE_ID}/replay", "inbound_id"),
    ("POST", f"/apps/system/api/mail/outbox/{HUGE_ID}/retry", "outbox_id"),
    ("DELETE", f"/apps/system/api/mail/mailboxes/{HUGE_ID}", "mailbox_id"),
    ("POST", f"/apps/system/api/mail/mailboxes/{HUGE_ID}/poll", "mailbox_id"),
    ("DELETE", f"/api/me/tokens/{HUGE_ID}", "token_id"),
    ("DELETE", f"/api/admin/tokens/{HUGE_ID}", "token_id"),
])
def test_id_past_64_bits_not_found(server: PortalServer, workspace: MailWorkspace,
                                   method: str, path: str, field: str) -> None:
    """A path id no database column can store names no row: 404, not a server error."""
    with signed_in(server, workspace.admin) as client:
        response = client.request(method, path)

    assert response.status_code == 404, response.text
    assert response.json()["error"]["field"] == field


def test_mail_settings_address_taken_conflict(server: PortalServer, factory: Factory,
                                              workspace: MailWorkspace) -> None:
    other = factory.tenant()
    factory.install(other, "ticketcloud")
    other_admin = factory.user(other, Role.ADMIN)
    with signed_in(server, other_admin) as client:
        taken = client.put(MAIL_SETTINGS, json={"support_address": workspace.address})
        invalid = client.put(MAIL_SETTINGS, json={"support_address": "not an address"})
        cleared = client.put(MAIL_SETTINGS, json={"support_address": None})

    assert taken.status_code == 409
    assert taken.json()["error"]["field"] == "support_address"
    assert invalid.status_code == 422
    assert cleared.json()["support_address"] is None


def test_mail_settings_needs_admin(server: PortalServer, factory: Factory,
                                   workspace: MailWorkspace) -> None:
    agent = factory.user(workspace.tenant, Role.AGENT)
    with signed_in(server, agent) as client:
        response = client.put(MAIL_SETTINGS, json={"support_address": "x@y.localhost"})

    assert response.status_code == 403


def test_listener_logs_start(server: PortalServer) -> None:
    assert f"Inbound SMTP listener started on 127.0.0.1:{server.smtp_port}" in server.log()
    assert httpx.get(server.base_url + "/healthz").status_code == 200


def test_listener_log_has_no_session_chatter(server: PortalServer,
                                             workspace: MailWorkspace) -> None:
    """aiosmtpd's INFO lines for every session stay out of the log at INFO."""
    errors, _reply = send(server, message(workspace.address))

    assert errors == {}
    log = server.log()
    assert "Connection lost during _handle_client()" not in log
    assert " mail.log: " not in log
