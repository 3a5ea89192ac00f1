"""The taskbar's window buttons, its arrow-key moves and sign-out."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, WebSocket, expect

from tests.browser.desktop import open_window, taskbar_button
from tests.support import PortalServer, UserInfo

pytestmark = pytest.mark.browser


def test_buttons_follow_window_titles(open_desktop: Callable[..., Page],
                                      hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    apps = open_window(page, "system", "apps")
    hello = open_window(page, "hello", "main")
    apps_id = apps.get_attribute("data-window-id")
    hello_id = hello.get_attribute("data-window-id")
    assert apps_id is not None
    assert hello_id is not None

    expect(page.locator(".mp-taskbar-button")).to_have_count(2)
    expect(taskbar_button(page, apps_id).locator(".mp-taskbar-title")).to_have_text("Apps")
    expect(taskbar_button(page, hello_id).locator(".mp-taskbar-title")).to_have_text("Hello")
    expect(taskbar_button(page, apps_id)).to_have_attribute("aria-pressed", "false")
    expect(taskbar_button(page, hello_id)).to_have_attribute("aria-pressed", "true")
    expect(taskbar_button(page, hello_id).locator(".mp-taskbar-badge")).to_be_hidden()

    taskbar_button(page, apps_id).click()

    expect(apps).to_have_attribute("data-focused", "")
    expect(taskbar_button(page, apps_id)).to_have_attribute("aria-pressed", "true")
    expect(taskbar_button(page, hello_id)).to_have_attribute("aria-pressed", "false")


def test_arrow_keys_move_between_buttons(open_desktop: Callable[..., Page],
                                         hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    hello_id = hello.get_attribute("data-window-id")
    assert hello_id is not None
    page.locator(".mp-launcher-button").focus()

    page.keyboard.press("ArrowRight")

    expect(taskbar_button(page, hello_id)).to_be_focused()
    expect(taskbar_button(page, hello_id)).to_have_attribute("tabindex", "0")
    expect(page.locator(".mp-launcher-button")).to_have_attribute("tabindex", "-1")

    page.keyboard.press("ArrowRight")
    expect(page.locator(".mp-signout-button")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page.locator(".mp-launcher-button")).to_be_focused()


def test_sign_out_closes_socket(open_desktop: Callable[..., Page], server: PortalServer,
                                hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    sockets: list[WebSocket] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    # The reload makes the desktop open a new socket, now that the listener is in place.
    page.reload()
    expect(page.locator(".mp-connection")).to_have_attribute("data-status", "open")
    assert len(sockets) == 1
    socket = sockets[0]
    assert "/ws" in socket.url
    assert not socket.is_closed()

    requests: list[str] = []
    page.on("request", lambda request: requests.append(f"{request.method} {request.url}"))

    with socket.expect_event("close", timeout=5_000):
        page.locator("form.mp-signout .mp-signout-button").click()

    page.wait_for_url(server.base_url + "/login")
    assert socket.is_closed()
    assert f"POST {server.base_url}/logout" in requests
    # The closed socket starts no session check that would race with the sign-out.
    assert f"GET {server.base_url}/api/desktop/apps" not in requests
    expect(page.locator("#password")).to_be_visible()
    # The session has ended, so the portal redirects the desktop's address to sign-in.
    page.goto("/")
    page.wait_for_url(server.base_url + "/login")
