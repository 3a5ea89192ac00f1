"""Keyboard use of the desktop: window cycling, moving and resizing windows, and the
launcher menu."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Response, expect

from tests.browser.desktop import (
    box,
    is_layout_put,
    launcher_item,
    move_window_to,
    open_window,
    saved_layout,
    title_bar,
    wait_for_app_page,
    windows,
    z_index,
)
from tests.support import UserInfo

pytestmark = pytest.mark.browser


def open_three(page: Page) -> list[Locator]:
    opened = [open_window(page) for _ in range(3)]
    for win in opened:
        # Focus sits inside the top window's app, whose SDK forwards the shortcut.
        wait_for_app_page(page, win, "#greeting")
    return opened


@pytest.mark.parametrize("shortcut", ["Alt+Backquote", "Control+Alt+ArrowRight"])
def test_shortcut_cycles_windows(open_desktop: Callable[..., Page], hello_admin: UserInfo,
                                 shortcut: str) -> None:
    page = open_desktop(hello_admin)
    first, second, third = open_three(page)
    expect(third).to_have_attribute("data-focused", "")
    assert page.evaluate("() => document.activeElement.className") == "mp-window-frame"

    # Forward cycling raises the bottom window each time, so it visits every window.
    for expected in (first, second, third):
        page.keyboard.press(shortcut)
        expect(expected).to_have_attribute("data-focused", "")
        expect(page.locator(".mp-window[data-focused]")).to_have_count(1)
        assert z_index(expected) == 3

    assert z_index(third) > z_index(second) > z_index(first)


def test_shift_shortcut_cycles_back(open_desktop: Callable[..., Page],
                                    hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    first, second, third = open_three(page)

    page.keyboard.press("Alt+Backquote")
    expect(first).to_have_attribute("data-focused", "")
    page.keyboard.press("Alt+Shift+Backquote")

    expect(third).to_have_attribute("data-focused", "")
    expect(windows(page).and_(page.locator("[data-focused]"))).to_have_count(1)
    assert z_index(third) > z_index(second) > z_index(first)


def test_shortcut_from_shell_focus(open_desktop: Callable[..., Page],
                                   hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    first = open_window(page)
    second = open_window(page)
    page.locator(".mp-launcher-button").focus()

    page.keyboard.press("Alt+Backquote")

    expect(first).to_have_attribute("data-focused", "")
    assert z_index(first) > z_index(second)


def test_escape_closes_launcher(open_desktop: Callable[..., Page], hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    button = page.locator(".mp-launcher-button")
    menu = page.locator(".mp-launcher-menu")
    button.click()
    expect(menu).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")

    page.keyboard.press("Escape")

    expect(menu).to_be_hidden()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_be_focused()


def test_launcher_keyboard_opens_window(open_desktop: Callable[..., Page],
                                        hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    button = page.locator(".mp-launcher-button")
    button.focus()

    page.keyboard.press("Enter")

    expect(page.locator(".mp-launcher-menu")).to_be_visible()
    expect(page.locator(".mp-launcher-item").first).to_be_focused()

    page.keyboard.press("ArrowDown")
    expect(launcher_item(page, "hello", "main")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator(".mp-launcher-menu")).to_be_hidden()
    expect(page.locator(".mp-window[data-app='hello']")).to_have_count(1)
    expect(page.locator(".mp-window[data-app='hello']")).to_have_attribute("data-focused", "")


def test_launcher_arrow_keys_wrap(open_desktop: Callable[..., Page],
                                  hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    page.locator(".mp-launcher-button").focus()
    items = page.locator(".mp-launcher-item")
    expect(items).to_have_count(2)

    page.keyboard.press("ArrowUp")

    expect(page.locator(".mp-launcher-menu")).to_be_visible()
    expect(items.last).to_be_focused()

    page.keyboard.press("ArrowDown")
    expect(items.first).to_be_focused()
    page.keyboard.press("End")
    expect(items.last).to_be_focused()
    page.keyboard.press("Home")
    expect(items.first).to_be_focused()

    page.keyboard.press("Tab")

    expect(page.locator(".mp-launcher-menu")).to_be_hidden()
    expect(page.locator(".mp-launcher-button")).to_have_attribute("aria-expanded", "false")


HIGHLIGHT = "rgb(234, 240, 255)"


def test_launcher_highlights_one_item(open_desktop: Callable[..., Page],
                                      hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    items = page.locator(".mp-launcher-item")

    # Opened by a click, the focused first item stays plain next to the hovered one.
    page.locator(".mp-launcher-button").click()
    items.last.hover()

    expect(items.first).to_be_focused()
    expect(items.last).to_have_css("background-color", HIGHLIGHT)
    expect(items.first).not_to_have_css("background-color", HIGHLIGHT)

    # From the keyboard, the focused item is highlighted.
    page.keyboard.press("Escape")
    page.mouse.move(600, 300)
    page.keyboard.press("ArrowDown")

    expect(items.first).to_be_focused()
    expect(items.first).to_have_css("background-color", HIGHLIGHT)
    expect(items.last).not_to_have_css("background-color", HIGHLIGHT)


def test_arrow_keys_move_and_resize_window(open_desktop: Callable[..., Page],
                                           hello_admin: UserInfo) -> None:
    """With its title focused, arrow keys move a window by 10 px, and Shift with them
    resizes it. The new geometry is saved and comes back after a reload."""
    page = open_desktop(hello_admin)
    hello = open_window(page)
    wait_for_app_page(page, hello, "#greeting")
    move_window_to(page, hello, 200, 150)
    start = box(hello)
    title = title_bar(hello)
    title.focus()
    expect(hello).to_have_attribute("data-focused", "")

    for key in ("ArrowRight", "ArrowRight", "ArrowRight", "ArrowDown", "ArrowLeft"):
        title.press(key)
    moved = box(hello)
    assert (moved.x, moved.y) == (start.x + 20, start.y + 10)
    assert (moved.width, moved.height) == (start.width, start.height)

    def has_final_geometry(response: Response) -> bool:
        if not is_layout_put(response):
            return False
        saved: dict[str, Any] = saved_layout(response)["windows"][0]
        return (saved["width"], saved["height"]) == (start.width + 20, start.height - 10)

    with page.expect_response(has_final_geometry):
        for key in ("Shift+ArrowRight", "Shift+ArrowRight", "Shift+ArrowUp"):
            title.press(key)
    resized = box(hello)
    assert (resized.x, resized.y) == (moved.x, moved.y)
    assert (resized.width, resized.height) == (start.width + 20, start.height - 10)

    page.reload()
    restored = page.locator(".mp-window")
    expect(restored).to_have_count(1)
    expect(page.locator(".mp-connection")).to_have_attribute("data-status", "open")
    assert box(restored) == resized


def test_arrow_keys_leave_maximized_window(open_desktop: Callable[..., Page],
                                           hello_admin: UserInfo) -> None:
    """A maximized window fills the desktop, so the arrow keys do not move it."""
    page = open_desktop(hello_admin)
    hello = open_window(page)
    wait_for_app_page(page, hello, "#greeting")
    hello.get_by_role("button", name="Maximize").click()
    expect(hello).to_have_attribute("data-state", "maximized")
    before = box(hello)

    title_bar(hello).focus()
    for key in ("ArrowRight", "Shift+ArrowDown"):
        title_bar(hello).press(key)

    assert box(hello) == before
    expect(hello).to_have_attribute("data-state", "maximized")
