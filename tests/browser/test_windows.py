"""Opening, cascading, minimizing, maximizing, closing and raising desktop windows."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.desktop import (
    CASCADE_STEP,
    box,
    click_launcher_item,
    desktop_area,
    open_window,
    taskbar_button,
    title_bar,
    wait_for_app_page,
    window,
    windows,
    z_index,
)
from tests.support import UserInfo

pytestmark = pytest.mark.browser


def test_launcher_opens_window(open_desktop: Callable[..., Page], hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)

    hello = open_window(page, "hello", "main")

    expect(hello).to_have_attribute("role", "dialog")
    expect(hello).to_have_attribute("data-window-type", "main")
    expect(hello).to_have_attribute("data-state", "normal")
    expect(hello).to_have_accessible_name("Hello")
    expect(title_bar(hello)).to_have_text("Hello")
    # The manifest's default_size.
    assert box(hello).width == 420
    assert box(hello).height == 300
    window_id = hello.get_attribute("data-window-id")
    assert window_id is not None
    expect(taskbar_button(page, window_id)).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".mp-launcher-menu")).to_be_hidden()
    wait_for_app_page(page, hello, "#greeting")


def test_new_windows_cascade(open_desktop: Callable[..., Page], hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)

    first = open_window(page, "hello", "main")
    second = open_window(page, "hello", "main")
    third = open_window(page, "hello", "main")

    expect(windows(page)).to_have_count(3)
    expect(page.locator(".mp-window[data-app='hello']")).to_have_count(3)
    expect(page.locator(".mp-taskbar-button[data-app='hello']")).to_have_count(3)
    assert box(second).x == box(first).x + CASCADE_STEP
    assert box(second).y == box(first).y + CASCADE_STEP
    assert box(third).x == box(second).x + CASCADE_STEP
    assert box(third).y == box(second).y + CASCADE_STEP
    assert z_index(first) < z_index(second) < z_index(third)
    expect(third).to_have_attribute("data-focused", "")
    expect(first).not_to_have_attribute("data-focused", "")


def test_singleton_window_opens_once(open_desktop: Callable[..., Page],
                                     hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    apps = open_window(page, "system", "apps")
    hello = open_window(page, "hello", "main")
    assert z_index(hello) > z_index(apps)

    click_launcher_item(page, "system", "apps")

    expect(page.locator(".mp-window[data-app='system']")).to_have_count(1)
    expect(apps).to_have_attribute("data-focused", "")
    expect(hello).not_to_have_attribute("data-focused", "")
    assert z_index(apps) > z_index(hello)
    expect(page.locator(".mp-taskbar-button[data-app='system']")).to_have_count(1)


def test_minimize_and_taskbar_restore(open_desktop: Callable[..., Page],
                                      hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    below = open_window(page)
    hello = open_window(page)
    window_id = hello.get_attribute("data-window-id")
    assert window_id is not None
    before = box(hello)

    hello.get_by_role("button", name="Minimize").click()

    expect(hello).to_be_hidden()
    expect(hello).to_have_attribute("data-state", "minimized")
    expect(taskbar_button(page, window_id)).to_have_attribute("data-state", "minimized")
    expect(taskbar_button(page, window_id)).to_have_attribute("aria-pressed", "false")
    # The window below takes the focus.
    expect(below).to_have_attribute("data-focused", "")

    taskbar_button(page, window_id).click()

    expect(hello).to_be_visible()
    expect(hello).to_have_attribute("data-state", "normal")
    expect(hello).to_have_attribute("data-focused", "")
    expect(taskbar_button(page, window_id)).to_have_attribute("aria-pressed", "true")
    assert box(hello) == before
    assert z_index(hello) > z_index(below)


def test_taskbar_button_minimizes_focused_window(open_desktop: Callable[..., Page],
                                                 hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    window_id = hello.get_attribute("data-window-id")
    assert window_id is not None

    taskbar_button(page, window_id).click()

    expect(hello).to_be_hidden()
    expect(taskbar_button(page, window_id)).to_have_attribute("data-state", "minimized")

    taskbar_button(page, window_id).click()

    expect(hello).to_be_visible()
    expect(hello).to_have_attribute("data-focused", "")


def test_maximize_fills_area_and_restores(open_desktop: Callable[..., Page],
                                          hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    before = box(hello)

    hello.get_by_role("button", name="Maximize").click()

    expect(hello).to_have_attribute("data-state", "maximized")
    assert box(hello) == desktop_area(page)
    # The taskbar stays visible below the maximized window.
    assert box(page.locator(".mp-taskbar")).y == desktop_area(page).bottom
    expect(hello.locator(".mp-resize-se")).to_be_hidden()

    hello.get_by_role("button", name="Restore").click()

    expect(hello).to_have_attribute("data-state", "normal")
    expect(hello.get_by_role("button", name="Maximize")).to_be_visible()
    assert box(hello) == before


def test_title_double_click_toggles_maximize(open_desktop: Callable[..., Page],
                                             hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    before = box(hello)

    title_bar(hello).dblclick()

    expect(hello).to_have_attribute("data-state", "maximized")
    assert box(hello) == desktop_area(page)

    title_bar(hello).dblclick()

    expect(hello).to_have_attribute("data-state", "normal")
    assert box(hello) == before


def test_close_removes_window_and_button(open_desktop: Callable[..., Page],
                                         hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    below = open_window(page)
    hello = open_window(page)
    window_id = hello.get_attribute("data-window-id")
    assert window_id is not None

    hello.get_by_role("button", name="Close").click()

    expect(window(page, window_id)).to_have_count(0)
    expect(taskbar_button(page, window_id)).to_have_count(0)
    expect(windows(page)).to_have_count(1)
    expect(below).to_have_attribute("data-focused", "")


def test_title_click_raises_lower_window(open_desktop: Callable[..., Page],
                                         hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    lower = open_window(page)
    upper = open_window(page)
    assert z_index(upper) > z_index(lower)

    # The cascade leaves the lower window's title bar uncovered above the upper window.
    title = box(title_bar(lower))
    page.mouse.click(title.x + 20, title.y + title.height / 2)

    expect(lower).to_have_attribute("data-focused", "")
    expect(upper).not_to_have_attribute("data-focused", "")
    assert z_index(lower) > z_index(upper)


def test_click_inside_frame_raises_window(open_desktop: Callable[..., Page],
                                          hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    lower = open_window(page)
    upper = open_window(page)
    wait_for_app_page(page, lower, "#greeting")
    wait_for_app_page(page, upper, "#greeting")
    upper_box = box(upper)
    page.mouse.move(*box(title_bar(upper)).center)
    page.mouse.down()
    page.mouse.move(upper_box.x + 400, upper_box.y + 300, steps=4)
    page.mouse.up()
    # The lower window's content left of the upper window is now uncovered.
    lower_frame = box(lower.locator("iframe"))
    assert box(upper).x > lower_frame.x + 60

    page.mouse.click(lower_frame.x + 30, lower_frame.y + lower_frame.height - 30)

    expect(lower).to_have_attribute("data-focused", "")
    expect(upper).not_to_have_attribute("data-focused", "")
    assert z_index(lower) > z_index(upper)
