"""A bouncing address in TicketCloud's ticket window: the line of the mail it skipped,
and the button that clears the mark after a confirm."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, expect

from portal.models import Role
from tests.apps.ticketcloud.mail_samples import customer_mail, delivery_report
from tests.browser.test_ticketcloud_windows import open_queue, open_ticket
from tests.support import Factory, PortalServer, UserInfo, signed_in

pytestmark = pytest.mark.browser

CASEY = "casey@customer.example"
WAIT_SECONDS = 20.0


@pytest.fixture
def mail_agent(server: PortalServer, factory: Factory) -> tuple[UserInfo, str]:
    """An agent of a fresh workspace that receives mail, and the support address."""
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    admin = factory.user(tenant, Role.ADMIN)
    address = f"support@{tenant.slug}.localhost"
    with signed_in(server, admin) as client:
        response = client.put(
            "/apps/ticketcloud/api/v1/settings/mail", json={"support_address": address}
        )
    assert response.status_code == 200, response.text
    return factory.user(tenant, Role.AGENT, name="Ada Agent"), address


def send_mail(server: PortalServer, mail: bytes, recipient: str) -> None:
    # Playwright's sync API runs an event loop in this thread, so plain smtplib sends.
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.sendmail("mailer-daemon@relay.example", [recipient], mail)


def wait_rows(
    factory: Factory, statement: str, what: str, **params: object
) -> list[tuple[Any, ...]]:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        rows = factory.execute(statement, **params)
        if rows:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"{what} not seen within {WAIT_SECONDS} s")


def bounce_requester(server: PortalServer, factory: Factory, agent: UserInfo, address: str) -> None:
    """Open ticket #1 by Casey's mail, and bounce its confirmation for Casey."""
    send_mail(server, bytes(customer_mail(to=address)), address)
    rows = wait_rows(
        factory,
        "SELECT message_id FROM portal_mail_outbox WHERE tenant_id = :t AND ref = 'ticket:1'",
        "the confirmation",
        t=agent.tenant.id,
    )
    send_mail(
        server,
        delivery_report(to=address, failed=CASEY, original_message_id=str(rows[0][0])),
        address,
    )
    wait_rows(
        factory,
        "SELECT id FROM ticketcloud_mail_bounce WHERE tenant_id = :t",
        "the bounce",
        t=agent.tenant.id,
    )


def test_bounce_line_and_clear_button(
    open_desktop: Callable[..., Page],
    server: PortalServer,
    factory: Factory,
    mail_agent: tuple[UserInfo, str],
) -> None:
    agent, address = mail_agent
    bounce_requester(server, factory, agent, address)
    with signed_in(server, agent) as client:
        response = client.post(
            "/apps/ticketcloud/api/v1/tickets/1/replies", json={"body": "Try the new driver."}
        )
    assert response.status_code == 201, response.text
    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page = open_desktop(agent)
    page.on("dialog", accept)
    _, frame = open_ticket(page, open_queue(page, "open"), 1)
    bouncing = frame.locator(".tc-bouncing")
    reply = frame.locator(".tc-message").nth(1)

    expect(bouncing).to_have_count(1)
    expect(bouncing).to_contain_text(f"Mail to {CASEY} bounced")
    expect(reply.locator(".tc-mail-skipped")).to_contain_text(
        f"Not sent to {CASEY}: the address bounced on"
    )
    bouncing.get_by_role("button", name=f"Clear the bounce mark of {CASEY}").click()
    expect(bouncing).to_have_count(0)
    expect(frame.locator("#status")).to_have_text(f"Mail of this ticket goes to {CASEY} again.")
    # The skipped mail stays a fact of the ticket after the mark is cleared.
    expect(reply.locator(".tc-mail-skipped")).to_have_count(1)
    assert dialogs == [
        f"Clear the bounce mark of {CASEY}? Mail of this ticket goes to the address again."
    ]
    rows = factory.execute(
        "SELECT cleared_at FROM ticketcloud_mail_bounce WHERE tenant_id = :t", t=agent.tenant.id
    )
    assert [row[0] is not None for row in rows] == [True]


def test_unmailable_requester_line(
    open_desktop: Callable[..., Page],
    server: PortalServer,
    factory: Factory,
    mail_agent: tuple[UserInfo, str],
) -> None:
    agent, _address = mail_agent
    with signed_in(server, agent) as client:
        response = client.post("/apps/ticketcloud/api/v1/tickets", json={
            "subject": "Printer", "body": "It jams.", "requester_email": "jörg@example.com"})
    assert response.status_code == 201, response.text

    page = open_desktop(agent)
    _, frame = open_ticket(page, open_queue(page, "open"), response.json()["number"])

    line = frame.locator(".tc-mail-skipped")
    expect(line).to_have_count(1)
    expect(line).to_have_text(
        "Not sent to jörg@example.com: the portal cannot send mail to this address.")
    expect(line).to_have_attribute("data-reason", "unmailable")
