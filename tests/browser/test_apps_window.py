"""Installing and uninstalling hello through the Apps window, seen live in the launcher."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import FrameLocator, Page, expect

from portal.models import Role
from tests.browser.desktop import launcher_item, open_window, wait_for_app_page
from tests.support import Factory, UserInfo

pytestmark = pytest.mark.browser


def apps_frame(page: Page) -> FrameLocator:
    apps = open_window(page, "system", "apps")
    frame = apps.frame_locator("iframe.mp-window-frame")
    expect(frame.locator("tr[data-app='hello']")).to_be_visible()
    return frame


def launcher_apps(page: Page) -> list[str]:
    apps: list[str] = page.locator(".mp-launcher-item").evaluate_all(
        "items => items.map(item => item.dataset.app)")
    return apps


def test_install_updates_launcher_live(open_desktop: Callable[..., Page], factory: Factory) -> None:
    tenant = factory.tenant()
    admin = factory.user(tenant, Role.ADMIN)
    agent = factory.user(tenant, Role.AGENT)
    other_tenant_admin = factory.user(factory.tenant(), Role.ADMIN)
    page = open_desktop(admin)
    agent_page = open_desktop(agent)
    outsider_page = open_desktop(other_tenant_admin)
    assert launcher_apps(page) == ["system"]
    assert launcher_apps(agent_page) == []
    # Set before the install, so that a reload would show as its absence.
    page.evaluate("() => { window.notReloaded = true; }")
    frame = apps_frame(page)
    row = frame.locator("tr[data-app='hello']")
    expect(row.locator(".status")).to_have_text("available")

    with page.expect_response(lambda response: response.url.endswith("/hello/install")) as answer:
        row.get_by_role("button", name="Install").click()

    assert answer.value.status == 200, answer.value.text()
    expect(row.locator(".status")).to_have_text("installed")
    expect(launcher_item(page, "hello", "main")).to_have_count(1)
    expect(launcher_item(agent_page, "hello", "main")).to_have_count(1)
    assert page.evaluate("() => window.notReloaded") is True
    hello = open_window(page, "hello", "main")
    wait_for_app_page(page, hello, "#greeting")
    assert launcher_apps(outsider_page) == ["system"]
    outsider_page.reload()
    expect(outsider_page.locator(".mp-launcher-item")).to_have_count(1)
    assert launcher_apps(outsider_page) == ["system"]


def test_uninstall_removes_launcher_item(open_desktop: Callable[..., Page],
                                         hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    expect(launcher_item(page, "hello", "main")).to_have_count(1)
    frame = apps_frame(page)
    row = frame.locator("tr[data-app='hello']")
    expect(row.locator(".status")).to_have_text("installed")

    with page.expect_response(lambda response: response.url.endswith("/hello/uninstall")) as answer:
        row.get_by_role("button", name="Uninstall").click()

    assert answer.value.status == 200, answer.value.text()
    expect(row.locator(".status")).to_have_text("uninstalled")
    expect(launcher_item(page, "hello", "main")).to_have_count(0)
    assert launcher_apps(page) == ["system"]
    expect(row.get_by_role("button", name="Install")).to_be_visible()
