"""Toasts from events: latency, text-only rendering, the open action and the audience."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, Response, expect

from portal.models import Role
from tests.browser.desktop import open_window, title_bar, wait_for_app_page
from tests.support import Factory, PortalServer, UserInfo, signed_in

pytestmark = pytest.mark.browser

HOSTILE_GREETING = '<img src=x onerror="window.__xss=1"><b>bold</b>'
MAX_TOAST_DELAY_MS = 1000
GREETINGS_PATH = "/apps/hello/api/greetings"

# Records, in epoch milliseconds, when the first toast element enters the page.
WATCH_FOR_TOAST = """() => {
    window.toastSeenAt = null;
    new MutationObserver((records, observer) => {
        if (!document.querySelector('.mp-toast')) return;
        window.toastSeenAt = Date.now();
        observer.disconnect();
    }).observe(document.querySelector('.mp-toasts'), {childList: true});
}"""


def is_greeting_post(response: Response) -> bool:
    return response.url.endswith(GREETINGS_PATH) and response.request.method == "POST"


def send_greeting(page: Page, hello: Locator, text: str) -> Response:
    """Send `text` through the hello window's form and return the response to its POST."""
    frame = hello.frame_locator("iframe.mp-window-frame")
    frame.locator("#greeting").fill(text)
    with page.expect_response(is_greeting_post) as answer:
        frame.get_by_role("button", name="Send").click()
    response = answer.value
    assert response.status == 201
    return response


def test_greeting_toast_within_one_second(open_desktop: Callable[..., Page],
                                          hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    wait_for_app_page(page, hello, "#greeting")
    page.evaluate(WATCH_FOR_TOAST)

    timing = send_greeting(page, hello, "Hi team").request.timing
    answered_at = timing["startTime"] + timing["responseEnd"]
    page.wait_for_function("() => window.toastSeenAt !== null",
                           timeout=MAX_TOAST_DELAY_MS + 4000)

    toast_seen_at = page.evaluate("() => window.toastSeenAt")
    assert toast_seen_at - answered_at < MAX_TOAST_DELAY_MS
    toast = page.locator(".mp-toast")
    expect(toast).to_have_count(1)
    expect(toast).to_have_attribute("data-kind", "info")
    expect(toast.locator(".mp-toast-title")).to_have_text("Hello")
    expect(toast.locator(".mp-toast-body")).to_have_text("Hi team")
    expect(page.locator(".mp-toasts")).to_have_attribute("aria-live", "polite")


def test_greeting_markup_shows_as_text(open_desktop: Callable[..., Page],
                                       hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    wait_for_app_page(page, hello, "#greeting")

    send_greeting(page, hello, HOSTILE_GREETING)

    toast = page.locator(".mp-toast")
    expect(toast.locator(".mp-toast-body")).to_have_text(HOSTILE_GREETING)
    assert toast.locator("img, b").count() == 0
    # The hello window lists the greeting, also as text.
    frame = hello.frame_locator("iframe.mp-window-frame")
    expect(frame.locator("#greetings li").first).to_have_text(HOSTILE_GREETING)
    assert frame.locator("#greetings img, #greetings b").count() == 0
    assert page.evaluate("() => window.__xss") is None
    app_frame = hello.locator("iframe").element_handle().content_frame()
    assert app_frame is not None
    assert app_frame.evaluate("() => window.__xss") is None


def test_toast_click_opens_greeting(open_desktop: Callable[..., Page],
                                    hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    wait_for_app_page(page, hello, "#greeting")
    greeting_id = send_greeting(page, hello, "Open me").json()["id"]
    toast = page.locator(".mp-toast")
    expect(toast).to_have_attribute("data-openable", "true")

    toast.locator(".mp-toast-content").click()

    expect(toast).to_have_count(0)
    opened = page.locator(".mp-window[data-app='hello']").nth(1)
    expect(opened).to_have_attribute("data-focused", "")
    frame_url = opened.locator("iframe").get_attribute("src")
    assert frame_url is not None
    assert f"greeting={greeting_id}" in frame_url
    # The app reads the param through the SDK and puts it in the title.
    expect(title_bar(opened)).to_have_text(f"Hello · greeting {greeting_id}")


def test_dismiss_button_removes_toast(open_desktop: Callable[..., Page],
                                      hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    wait_for_app_page(page, hello, "#greeting")
    send_greeting(page, hello, "Dismiss me")
    toast = page.locator(".mp-toast")
    expect(toast).to_have_count(1)

    toast.get_by_role("button", name="Dismiss notification").click()

    expect(toast).to_have_count(0)
    expect(page.locator(".mp-window")).to_have_count(1)


def test_greeting_toast_only_for_sender(open_desktop: Callable[..., Page], server: PortalServer,
                                        factory: Factory, hello_admin: UserInfo) -> None:
    colleague = factory.user(hello_admin.tenant, Role.AGENT)
    sender_page = open_desktop(hello_admin)
    colleague_page = open_desktop(colleague)

    with signed_in(server, hello_admin) as sender:
        response = sender.post(GREETINGS_PATH, json={"text": "Only mine"})
        assert response.status_code == 201
    expect(sender_page.locator(".mp-toast-body")).to_have_text("Only mine")
    # The colleague's own later greeting arrives, so the earlier event had its chance.
    with signed_in(server, colleague) as client:
        response = client.post(GREETINGS_PATH, json={"text": "Colleague's"})
        assert response.status_code == 201

    expect(colleague_page.locator(".mp-toast-body")).to_have_text("Colleague's")
    expect(colleague_page.locator(".mp-toast")).to_have_count(1)
    expect(sender_page.locator(".mp-toast")).to_have_count(1)
