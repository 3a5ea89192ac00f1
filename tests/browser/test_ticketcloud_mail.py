"""Mail messages in TicketCloud's ticket window: quoted history behind a toggle, and the
HTML version of hostile mail in a sandboxed iframe that runs no script."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from portal.models import Role
from tests.apps.ticketcloud.mail_samples import customer_mail
from tests.browser.test_ticketcloud_windows import open_queue, open_ticket
from tests.support import Factory, PortalServer, UserInfo, signed_in

pytestmark = pytest.mark.browser

HOSTILE_HTML = ('<p>Hello <b>agent</b></p><img src=x onerror="parent.parent.__xss=1">'
                '<script>parent.parent.__xss=2</script>'
                '<a href="javascript:parent.parent.__xss=3">link</a>')


@pytest.fixture
def mail_agent(server: PortalServer, factory: Factory) -> tuple[UserInfo, str]:
    """An agent of a fresh workspace that receives mail, and the support address."""
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    admin = factory.user(tenant, Role.ADMIN)
    address = f"support@{tenant.slug}.localhost"
    with signed_in(server, admin) as client:
        response = client.put("/apps/ticketcloud/api/v1/settings/mail",
                              json={"support_address": address})
    assert response.status_code == 200, response.text
    return factory.user(tenant, Role.AGENT, name="Ada Agent"), address


def deliver_and_wait(server: PortalServer, factory: Factory, agent: UserInfo,
                     address: str) -> None:
    mail = customer_mail(to=address, body="New words here.\n\nOn Mon, 3 Mar 2025, Support "
                         "wrote:\n> Old quoted words.\n", html=HOSTILE_HTML)
    # Playwright's sync API runs an event loop in this thread, so plain smtplib sends.
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.send_message(mail)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = factory.execute("SELECT COUNT(*) FROM ticketcloud_ticket WHERE tenant_id = :t",
                               t=agent.tenant.id)
        if rows[0][0] == 1:
            return
        time.sleep(0.05)
    raise AssertionError("the mail did not become a ticket within 20 s")


def test_quoted_toggle_and_hostile_html(open_desktop: Callable[..., Page],
                                        server: PortalServer, factory: Factory,
                                        mail_agent: tuple[UserInfo, str]) -> None:
    agent, address = mail_agent
    deliver_and_wait(server, factory, agent, address)
    page = open_desktop(agent)
    queue = open_queue(page, "open")
    _, frame = open_ticket(page, queue, 1)
    message = frame.locator(".tc-message").first
    toggle = message.locator(".tc-quoted-toggle")
    quoted = message.locator(".tc-quoted")

    expect(message.locator(".tc-message-body")).to_have_text("New words here.")
    expect(quoted).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(quoted).to_be_visible()
    expect(quoted).to_contain_text("> Old quoted words.")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.click()
    expect(quoted).to_be_hidden()

    message.locator(".tc-html-toggle").click()
    html_frame = message.locator("iframe.tc-mail-frame")
    expect(html_frame).to_have_attribute("sandbox", "")
    expect(message.frame_locator("iframe.tc-mail-frame").locator("b")).to_have_text("agent")
    expect(message.locator(".tc-mail-html script")).to_have_count(0)
    # An executed handler or script would set __xss on the desktop page.
    assert page.evaluate("() => window.__xss") is None
    assert page.evaluate("() => [...document.querySelectorAll('iframe')].map("
                         "f => { try { return f.contentWindow.__xss ?? null } "
                         "catch { return null } })") == [None] * page.locator(
                             "iframe").count()
