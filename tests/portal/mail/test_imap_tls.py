"""IMAP over TLS against a Dovecot with `ssl = required` and a certificate from a CA made
for the test. Polling over implicit TLS and over STARTTLS works with the mailbox's CA
file. A certificate that the CA did not sign is rejected with the reason, mode none on
the TLS port gets a clear error, and the admin API validates the CA file."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from portal.db import utcnow
from portal.mail.imap_client import ImapClient
from portal.mail.imap_models import ImapMailbox, ImapSecurity
from portal.mail.imap_poll import ImapPoller, PollResult
from portal.models import Role
from portal.services import Services
from tests.portal.mail.dovecot import Dovecot, start_dovecot, stop_dovecot
from tests.portal.mail.test_imap_poll import (
    MAILBOXES,
    ImapWorkspace,
    create_mailbox,
    is_seen,
    raw_message,
    run_with_services,
)
from tests.portal.mail.test_listener import email_tickets, finished_row
from tests.portal.mail.tls_certs import make_ca, make_server_certificate
from tests.support import Factory, PortalServer, signed_in

GREETING_TIMEOUT_SECONDS = 2.0


@dataclass
class TlsServer:
    dovecot: Dovecot
    ca_file: Path
    other_ca_file: Path


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    """A Dovecot with a certificate signed by the test CA, and a second CA that signed
    nothing of it."""
    folder = Path(tempfile.mkdtemp(prefix="miportal-tls-"))
    folder.chmod(0o755)
    authority = make_ca(folder, "ca")
    other = make_ca(folder, "other-ca")
    dovecot = start_dovecot(make_server_certificate(folder, authority))
    yield TlsServer(dovecot, authority.certificate, other.certificate)
    stop_dovecot(dovecot)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def tls_workspace(factory: Factory, tls_server: TlsServer) -> ImapWorkspace:
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    admin = factory.user(tenant, Role.ADMIN)
    user, password = tls_server.dovecot.new_account()
    return ImapWorkspace(tenant, admin, user, password)


def tls_fields(
    tls_server: TlsServer, workspace: ImapWorkspace, *, security: str, **changes: Any
) -> dict[str, Any]:
    dovecot = tls_server.dovecot
    fields: dict[str, Any] = {
        "name": f"Support inbox ({security})",
        "app_id": "ticketcloud",
        "host": dovecot.host,
        "port": dovecot.tls_port if security == "tls" else dovecot.port,
        "security": security,
        "ca_file": str(tls_server.ca_file),
        "username": workspace.user,
        "password": workspace.password,
        "interval_seconds": 3600,
    }
    fields.update(changes)
    return fields


def poll_once(client: httpx.Client, fields: dict[str, Any]) -> dict[str, Any]:
    mailbox = create_mailbox(client, fields)
    response = client.post(f"{MAILBOXES}/{mailbox['id']}/poll")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_imap_tls_poll_stores_mail(
    server: PortalServer,
    factory: Factory,
    tls_server: TlsServer,
    tls_workspace: ImapWorkspace,
    security: str,
) -> None:
    workspace = tls_workspace
    tls_server.dovecot.append(
        workspace.user,
        workspace.password,
        raw_message(f"Over {security}", f"<tls-{security}@example.com>"),
    )
    with signed_in(server, workspace.admin) as client:
        result = poll_once(client, tls_fields(tls_server, workspace, security=security))

    assert result["ok"] is True, result
    assert result["mailbox"]["ca_file"] == str(tls_server.ca_file)
    assert result["mailbox"]["state"]["last_error"] is None
    assert result["mailbox"]["state"]["fetched_total"] == 1
    assert finished_row(factory, workspace.tenant)[1] == "processed"
    assert [row[1] for row in email_tickets(factory, workspace.tenant)] == [f"Over {security}"]
    flags = tls_server.dovecot.flags(workspace.user, workspace.password)
    assert [is_seen(item) for item in flags.values()] == [True]


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_imap_tls_other_ca_rejected(
    server: PortalServer, tls_server: TlsServer, tls_workspace: ImapWorkspace, security: str
) -> None:
    workspace = tls_workspace
    fields = tls_fields(
        tls_server, workspace, security=security, ca_file=str(tls_server.other_ca_file)
    )
    with signed_in(server, workspace.admin) as client:
        result = poll_once(client, fields)

    error = result["mailbox"]["state"]["last_error"]
    assert result["ok"] is False
    assert result["stored"] == 0
    assert "TLS certificate of 127.0.0.1" in error
    assert "unable to get local issuer certificate" in error
    assert str(tls_server.other_ca_file) in error
    assert workspace.password not in error


def test_imap_tls_mode_none_on_tls_port(
    server: PortalServer, tls_server: TlsServer, tls_workspace: ImapWorkspace
) -> None:
    workspace = tls_workspace
    dovecot = tls_server.dovecot

    async def poll(services: Services) -> tuple[PollResult, str | None]:
        async with services.db.transaction() as session:
            mailbox = ImapMailbox(
                tenant_id=workspace.tenant.id,
                name="Plain to IMAPS",
                app_id="ticketcloud",
                host=dovecot.host,
                port=dovecot.tls_port,
                security=ImapSecurity.NONE,
                username=workspace.user,
                password=workspace.password,
                next_poll_at=utcnow() + timedelta(days=1),
            )
            session.add(mailbox)
            await session.flush()
            mailbox_id = mailbox.id
        assert mailbox_id is not None
        # The server never greets a plain connection on its TLS port, so the client's
        # timeout decides how long this takes; the default would be 30 seconds.
        poller = ImapPoller(
            services.db,
            services.inbound,
            client_factory=lambda target: ImapClient(
                replace(target, timeout=GREETING_TIMEOUT_SECONDS)
            ),
        )
        result = await poller.poll(mailbox_id)
        async with services.db.read() as session:
            stored = await session.get(ImapMailbox, mailbox_id)
        return result, stored.last_error if stored else None

    result, last_error = run_with_services(server, poll)

    assert result.ok is False
    assert last_error == result.error
    assert last_error is not None
    assert f"Connecting to 127.0.0.1:{dovecot.tls_port} failed: timed out" in last_error
    assert "set the mailbox's security to tls" in last_error


def test_imap_tls_check_uses_ca_file(
    server: PortalServer, tls_server: TlsServer, tls_workspace: ImapWorkspace
) -> None:
    workspace = tls_workspace
    with signed_in(server, workspace.admin) as client:
        mailbox = create_mailbox(client, tls_fields(tls_server, workspace, security="tls"))
        check = client.post(f"{MAILBOXES}/{mailbox['id']}/check").json()

    assert check["ok"] is True, check


@pytest.mark.parametrize(
    ("ca_file", "security", "message"),
    [
        ("relative/ca.pem", "tls", "the path is not absolute"),
        ("/nonexistent/miportal/ca.pem", "tls", "no such file"),
        ("NOT_PEM", "tls", "could not be loaded as PEM certificates"),
        ("CA", "none", "A CA file needs TLS"),
    ],
)
def test_imap_tls_ca_file_validated(
    server: PortalServer,
    tls_server: TlsServer,
    tls_workspace: ImapWorkspace,
    tmp_path: Path,
    ca_file: str,
    security: str,
    message: str,
) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("this is not a certificate\n", encoding="ascii")
    path = {"NOT_PEM": str(not_pem), "CA": str(tls_server.ca_file)}.get(ca_file, ca_file)
    fields = tls_fields(tls_server, tls_workspace, security=security, ca_file=path)
    with signed_in(server, tls_workspace.admin) as client:
        response = client.post(MAILBOXES, json=fields)
        listing = client.get(MAILBOXES).json()

    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "ca_file"
    assert message in response.json()["error"]["message"]
    assert listing == {"items": []}
