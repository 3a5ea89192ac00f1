"""A misbehaving app window leaves the shell and the other windows working.

These tests run their own portal whose apps folder contains the fixture app
`fixture_hostile`: its window page ships global CSS aimed at the shell's class names,
sends malformed SDK messages and a title with markup, then throws from its script.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from portal.models import Role
from tests.browser.desktop import box, drag_title, open_window, title_bar, wait_for_app_page
from tests.browser.threaded_factory import ThreadedFactory
from tests.support import PortalServer, UserInfo, signed_in, start_server, stop_server

pytestmark = pytest.mark.browser

BROWSER_APPS = Path(__file__).resolve().parent.parent / "fixtures" / "browser_apps"

# Computed style properties of shell elements that the hostile CSS would change.
SHELL_STYLES = """() => {
    const read = (selector, names) => {
        const style = getComputedStyle(document.querySelector(selector));
        return Object.fromEntries(names.map((name) => [name, style.getPropertyValue(name)]));
    };
    const common = ['display', 'position', 'z-index', 'background-color', 'color',
                    'font-family', 'cursor', 'transform', 'pointer-events'];
    return {
        desktop: read('.mp-desktop', common),
        area: read('.mp-desktop-area', common),
        taskbar: read('.mp-taskbar', [...common, 'height']),
        launcher: read('.mp-launcher-button', common),
        helloWindow: read('.mp-window[data-app=hello]', [...common, 'border-radius']),
        helloTitlebar: read('.mp-window[data-app=hello] .mp-window-titlebar',
                            [...common, 'height']),
        helloFrame: read('.mp-window[data-app=hello] iframe', common),
        toasts: read('.mp-toasts', common),
    };
}"""


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    portal = start_server(tmp_path_factory.mktemp("hostile"),
                          env={"MIPORTAL_APPS_DIR": str(BROWSER_APPS)})
    yield portal
    stop_server(portal)


@pytest.fixture
def hostile_user(hostile_server: PortalServer) -> UserInfo:
    """An agent of a workspace with hello and fixture_hostile installed."""
    factory = ThreadedFactory(hostile_server)
    tenant = factory.tenant()
    admin = factory.user(tenant, Role.ADMIN)
    # Through the admin API, because the factory's registry reads the default apps
    # folder, not this server's.
    with signed_in(hostile_server, admin) as client:
        for app_id in ("hello", "fixture_hostile"):
            response = client.post(f"/api/admin/apps/{app_id}/install")
            assert response.status_code == 200, response.text
    return factory.user(tenant, Role.AGENT)


def test_hostile_app_leaves_shell_working(open_desktop: Callable[..., Page],
                                          hostile_server: PortalServer,
                                          hostile_user: UserInfo) -> None:
    page = open_desktop(hostile_user, portal=hostile_server)
    hello = open_window(page, "hello", "main")
    wait_for_app_page(page, hello, "#greeting")
    baseline: dict[str, Any] = page.evaluate(SHELL_STYLES)

    with page.expect_event("pageerror", lambda error: "broken on purpose" in error.message):
        hostile = open_window(page, "fixture_hostile", "main")

    # The page loaded with its CSS, then its script failed.
    hostile_body = hostile.frame_locator("iframe.mp-window-frame").locator("body")
    expect(hostile_body).to_have_css("background-color", "rgb(0, 255, 0)")
    expect(title_bar(hostile)).to_have_text('<img src=x onerror="parent.__xss=1">Hostile')
    assert hostile.locator(".mp-window-title img").count() == 0
    assert page.evaluate("() => window.__xss") is None
    assert page.evaluate(SHELL_STYLES) == baseline

    # The hello window below still drags, with the pointer passing over the hostile frame.
    before = box(hello)
    drag_title(page, hello, 300, 200)
    assert box(hello).x == before.x + 300
    assert box(hello).y == before.y + 200
    expect(hello).to_have_attribute("data-focused", "")

    # The launcher still opens windows, and the hostile window still closes.
    another = open_window(page, "hello", "main")
    wait_for_app_page(page, another, "#greeting")
    hostile.get_by_role("button", name="Close").click()
    expect(page.locator(".mp-window[data-app='fixture_hostile']")).to_have_count(0)
    expect(page.locator(".mp-connection")).to_have_attribute("data-status", "open")
    assert page.evaluate(SHELL_STYLES)["taskbar"] == baseline["taskbar"]
