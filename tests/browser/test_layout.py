"""The saved layout across a reload, and windows kept reachable when the browser shrinks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Response, expect

from tests.browser.desktop import (
    box,
    desktop_area,
    drag,
    is_layout_put,
    move_window_to,
    open_window,
    saved_layout,
    taskbar_button,
    window,
    z_index,
)
from tests.support import UserInfo

pytestmark = pytest.mark.browser


def window_id(win: Locator) -> str:
    value = win.get_attribute("data-window-id")
    assert value is not None
    return value


def test_reload_restores_layout(open_desktop: Callable[..., Page],
                                hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    # Opened in the reverse of their final stacking order, so that restoring the windows
    # in the order they were opened would fail.
    normal = open_window(page)
    maximized = open_window(page)
    minimized = open_window(page)
    ids = {"minimized": window_id(minimized), "maximized": window_id(maximized),
           "normal": window_id(normal)}
    # Placed so that no window covers the buttons clicked below.
    move_window_to(page, minimized, 120, 400)
    drag(page, box(minimized.locator(".mp-resize-se")).center, 60, 40)
    move_window_to(page, normal, 700, 420)
    move_window_to(page, maximized, 640, 90)
    minimized_geometry = box(minimized)
    maximized_geometry = box(maximized)
    normal_geometry = box(normal)

    def is_final_layout(response: Response) -> bool:
        if not is_layout_put(response):
            return False
        layout: dict[str, Any] = saved_layout(response)
        return layout["focused"] == ids["normal"] and [
            (entry["id"], entry["state"]) for entry in layout["windows"]
        ] == [(ids["minimized"], "minimized"), (ids["maximized"], "maximized"),
              (ids["normal"], "normal")]

    # The debounced save that follows the last change must carry the whole layout.
    with page.expect_response(is_final_layout):
        minimized.get_by_role("button", name="Minimize").click()
        maximized.get_by_role("button", name="Maximize").click()
        taskbar_button(page, ids["normal"]).click()
        expect(normal).to_have_attribute("data-focused", "")

    page.reload()
    expect(page.locator(".mp-connection")).to_have_attribute("data-status", "open")

    restored = {name: window(page, window_id) for name, window_id in ids.items()}
    expect(page.locator(".mp-window")).to_have_count(3)
    expect(restored["minimized"]).to_be_hidden()
    expect(restored["minimized"]).to_have_attribute("data-state", "minimized")
    expect(restored["maximized"]).to_have_attribute("data-state", "maximized")
    expect(restored["normal"]).to_have_attribute("data-state", "normal")
    expect(restored["normal"]).to_have_attribute("data-focused", "")
    expect(page.locator(".mp-window[data-focused]")).to_have_count(1)
    assert z_index(restored["minimized"]) < z_index(restored["maximized"])
    assert z_index(restored["maximized"]) < z_index(restored["normal"])
    assert box(restored["normal"]) == normal_geometry
    assert box(restored["maximized"]) == desktop_area(page)
    expect(taskbar_button(page, ids["minimized"])).to_have_attribute("data-state", "minimized")

    # Each window keeps its geometry from before it was minimized or maximized.
    taskbar_button(page, ids["minimized"]).click()
    expect(restored["minimized"]).to_be_visible()
    assert box(restored["minimized"]) == minimized_geometry
    taskbar_button(page, ids["maximized"]).click()
    restored["maximized"].get_by_role("button", name="Restore").click()
    expect(restored["maximized"]).to_have_attribute("data-state", "normal")
    assert box(restored["maximized"]) == maximized_geometry


TITLE_BARS_INSIDE_VIEWPORT = """() => [...document.querySelectorAll('.mp-window:not([hidden])')]
    .every((node) => {
        const bar = node.querySelector('.mp-window-titlebar').getBoundingClientRect();
        return bar.left >= 0 && bar.top >= 0
            && bar.right <= innerWidth && bar.bottom <= innerHeight;
    })"""


def test_shrinking_browser_keeps_title_bars_inside(open_desktop: Callable[..., Page],
                                                   hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    right = open_window(page)
    bottom = open_window(page)
    corner = open_window(page, "system", "apps")
    maximized = open_window(page)
    maximized.get_by_role("button", name="Maximize").click()
    maximized.get_by_role("button", name="Minimize").click()
    move_window_to(page, right, 840, 40)
    move_window_to(page, bottom, 60, 660)
    move_window_to(page, corner, 900, 640)
    taskbar_button(page, window_id(maximized)).click()
    expect(maximized).to_have_attribute("data-state", "maximized")

    page.set_viewport_size({"width": 720, "height": 480})
    page.wait_for_function(TITLE_BARS_INSIDE_VIEWPORT)

    area = desktop_area(page)
    assert area.width == 720
    assert area.height == 480 - 48
    for win in (right, bottom, corner):
        bar = box(win.locator(".mp-window-titlebar"))
        assert bar.x >= 0
        assert bar.y >= 0
        assert bar.right <= area.right
        assert bar.bottom <= area.bottom
        # The window shrinks to the area but not below the apps' min_size.
        assert box(win).width <= area.width
    assert box(maximized) == area
