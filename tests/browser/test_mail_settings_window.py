"""The Mail settings window in Chromium: the support address, an IMAP mailbox against a
real Dovecot with errors marked on their field, and the outgoing relay."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import FrameLocator, Locator, Page, expect

from portal.models import Role
from tests.browser.desktop import open_window, window, window_ids
from tests.portal.mail.dovecot import Dovecot, dovecot  # noqa: F401
from tests.portal.mail.test_imap_poll import raw_message
from tests.support import Factory

pytestmark = pytest.mark.browser


def open_mail_settings(page: Page) -> tuple[Locator, FrameLocator]:
    apps = open_window(page, "system", "apps")
    before = window_ids(page)
    apps.frame_locator("iframe.mp-window-frame").get_by_role(
        "button", name="Mail settings…").click()
    page.wait_for_function(
        "before => [...document.querySelectorAll('.mp-window')]"
        ".some(node => !before.includes(node.dataset.windowId))", arg=before)
    new_id = next(window_id for window_id in window_ids(page) if window_id not in before)
    settings = window(page, new_id)
    frame = settings.frame_locator("iframe.mp-window-frame")
    expect(frame.locator("#mailboxes")).to_be_visible()
    return settings, frame


def test_mail_settings_window_configures_mail(open_desktop: Callable[..., Page],
                                              factory: Factory,
                                              dovecot: Dovecot) -> None:  # noqa: F811
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    admin = factory.user(tenant, Role.ADMIN)
    user, password = dovecot.new_account()
    page = open_desktop(admin)
    _settings, frame = open_mail_settings(page)
    address = f"help@{tenant.slug}.localhost"

    support = frame.locator("#support-form")
    support.get_by_label("TicketCloud support address").fill(address)
    support.get_by_role("button", name="Save TicketCloud mail").click()
    expect(frame.locator("#addresses")).to_contain_text(f"{address} → ticketcloud")
    trusted = support.get_by_label("Trusted mail server (authserv-id)")
    trusted.fill("mx; evil")
    support.get_by_role("button", name="Save TicketCloud mail").click()
    expect(trusted).to_have_attribute("aria-invalid", "true")
    expect(support.locator(".field-error")).to_contain_text("Invalid trusted_authserv_id")
    trusted.fill(f"mx.{tenant.slug}.example")
    # The status line already holds the first save's text, so it is emptied to see the
    # second save finish.
    frame.locator("#status").evaluate("node => { node.textContent = ''; }")
    support.get_by_role("button", name="Save TicketCloud mail").click()
    expect(frame.locator("#status")).to_have_text(f"Mail to {address} now becomes tickets.")
    expect(trusted).not_to_have_attribute("aria-invalid", "true")
    expect(support.locator(".field-error")).to_be_hidden()
    stored = factory.execute("SELECT mail_trusted_authserv_id FROM ticketcloud_settings "
                             "WHERE tenant_id = :t", t=tenant.id)
    assert stored == [(f"mx.{tenant.slug}.example",)]

    frame.get_by_role("button", name="Add mailbox…").click()
    form = frame.locator("#mailbox-form")
    form.get_by_label("Name", exact=True).fill("Support inbox")
    form.get_by_label("Host").fill("imap example.com")
    form.get_by_label("Port", exact=True).fill(str(dovecot.port))
    form.get_by_label("Security").select_option("none")
    form.get_by_label("User name").fill(user)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_role("button", name="Save mailbox").click()
    host = form.get_by_label("Host")
    expect(host).to_have_attribute("aria-invalid", "true")
    expect(frame.locator("#mailbox-error")).to_contain_text("Invalid host")
    expect(host).to_be_focused()

    host.fill(dovecot.host)
    form.get_by_role("button", name="Save mailbox").click()
    row = frame.locator("#mailboxes tbody tr").first
    expect(row).to_contain_text("Support inbox")
    expect(form).to_be_hidden()
    row.get_by_role("button", name="Test connection").click()
    expect(frame.locator("#status")).to_contain_text("Signed in;")

    dovecot.append(user, password, raw_message("Browser mail", "<browser@example.com>"))
    row.get_by_role("button", name="Poll now").click()
    # The portal's job may poll the mailbox first; either way the message is fetched once.
    expect(frame.locator("#status")).to_contain_text("new message(s) stored")
    expect(row).to_contain_text("1 message(s) fetched")

    row.get_by_role("button", name="Edit").click()
    expect(form.get_by_label("Password")).to_have_value("")
    expect(form.get_by_label("Password")).to_have_attribute(
        "placeholder", "set; leave empty to keep it")
    assert password not in frame.locator("body").inner_text()

    relay = frame.locator("#relay-form")
    relay.get_by_label("SMTP relay host").fill("smtp example.com")
    relay.get_by_role("button", name="Save outgoing mail").click()
    expect(relay.get_by_label("SMTP relay host")).to_have_attribute("aria-invalid", "true")
    expect(frame.locator("#relay-error")).to_contain_text("relay_host")
    relay.get_by_label("SMTP relay host").fill("127.0.0.1")
    relay.get_by_role("button", name="Save outgoing mail").click()
    expect(frame.locator("#relay-effective")).to_contain_text("smtp://127.0.0.1:25")
