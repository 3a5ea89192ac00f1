"""Moving and resizing windows with the mouse and with touch."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.desktop import (
    MIN_VISIBLE_TITLE_WIDTH,
    TITLE_BAR_HEIGHT,
    Box,
    box,
    desktop_area,
    drag,
    drag_title,
    move_window_to,
    open_window,
    title_bar,
    wait_for_app_page,
)
from tests.support import UserInfo

pytestmark = pytest.mark.browser

# The hello window's min_size in its manifest.
HELLO_MIN_WIDTH = 260
HELLO_MIN_HEIGHT = 200


def test_title_drag_moves_by_pointer_delta(open_desktop: Callable[..., Page],
                                           hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    before = box(hello)

    drag_title(page, hello, 213, 117)

    after = box(hello)
    assert after.x == before.x + 213
    assert after.y == before.y + 117
    assert after.width == before.width
    assert after.height == before.height


def test_drag_over_other_frame(open_desktop: Callable[..., Page], hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    moving = open_window(page)
    other = open_window(page)
    move_window_to(page, other, 600, 150)
    wait_for_app_page(page, other, "#greeting")
    before = box(moving)
    start = box(title_bar(moving)).center
    target = box(other.locator("iframe")).center

    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 10, start[1] + 10)
    expect(page.locator(".mp-desktop-area")).to_have_attribute("data-gesture", "")
    expect(other.locator("iframe")).to_have_css("pointer-events", "none")
    # One jump, so the pointer lands on the other window's iframe before the dragged
    # window catches up with it, then a few moves inside that iframe.
    page.mouse.move(target[0] - 20, target[1] - 20)
    page.mouse.move(*target, steps=4)
    page.mouse.up()

    after = box(moving)
    assert after.x == before.x + target[0] - start[0]
    assert after.y == before.y + target[1] - start[1]
    expect(page.locator(".mp-desktop-area")).not_to_have_attribute("data-gesture", "")
    expect(other.locator("iframe")).to_have_css("pointer-events", "auto")


def test_drag_keeps_title_bar_inside(open_desktop: Callable[..., Page],
                                     hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    area = desktop_area(page)
    viewport = page.viewport_size
    assert viewport is not None

    # Up and left past the viewport's corner: the window stops at the corner.
    grab = box(title_bar(hello)).center
    drag(page, grab, 2 - grab[0], 2 - grab[1])
    title = box(hello.locator(".mp-window-titlebar"))
    assert title.x == 0
    assert title.y == 0

    # Down onto the taskbar and right to the viewport's edge: the whole title bar height
    # and MIN_VISIBLE_TITLE_WIDTH of its width stay inside. The grab is at the title
    # bar's left end, so that the pointer can pull the window far enough.
    bar = box(hello.locator(".mp-window-titlebar"))
    grab = (int(bar.x) + 6, bar.center[1])
    drag(page, grab, viewport["width"] - 2 - grab[0], viewport["height"] - 2 - grab[1])
    title = box(hello.locator(".mp-window-titlebar"))
    assert title.y + TITLE_BAR_HEIGHT == area.bottom
    assert viewport["width"] - title.x == MIN_VISIBLE_TITLE_WIDTH


def test_escape_cancels_drag(open_desktop: Callable[..., Page], hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    before = box(hello)
    start = box(title_bar(hello)).center

    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(start[0] + 150, start[1] + 90, steps=5)
    assert box(hello).x == before.x + 150
    page.keyboard.press("Escape")
    page.mouse.move(start[0] + 250, start[1] + 190, steps=3)
    page.mouse.up()

    assert box(hello) == before
    expect(page.locator(".mp-desktop-area")).not_to_have_attribute("data-gesture", "")


def expected_resize(start: Box, edge: str, dx: float, dy: float) -> Box:
    x, y, right, bottom = start.x, start.y, start.right, start.bottom
    if "w" in edge:
        x += dx
    if "e" in edge:
        right += dx
    if "n" in edge:
        y += dy
    if "s" in edge:
        bottom += dy
    return Box(x, y, right - x, bottom - y)


# Each handle drags its edges outward, by a distance that differs per axis so that a
# swapped axis shows.
RESIZES = [
    ("n", 0, -23), ("s", 0, 31), ("e", 37, 0), ("w", -29, 0),
    ("ne", 17, -13), ("nw", -19, -11), ("se", 21, 15), ("sw", -14, 27),
]


@pytest.mark.parametrize(("edge", "dx", "dy"), RESIZES)
def test_resize_handle_moves_its_edges(open_desktop: Callable[..., Page], hello_admin: UserInfo,
                                       edge: str, dx: int, dy: int) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    move_window_to(page, hello, 300, 200)
    before = box(hello)

    drag(page, box(hello.locator(f".mp-resize-{edge}")).center, dx, dy, steps=4)

    assert box(hello) == expected_resize(before, edge, dx, dy)


def test_resize_stops_at_min_size(open_desktop: Callable[..., Page],
                                  hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin)
    hello = open_window(page)
    move_window_to(page, hello, 300, 200)
    before = box(hello)

    drag(page, box(hello.locator(".mp-resize-se")).center, -600, -400)

    shrunk = box(hello)
    assert shrunk.width == HELLO_MIN_WIDTH
    assert shrunk.height == HELLO_MIN_HEIGHT
    assert (shrunk.x, shrunk.y) == (before.x, before.y)

    drag(page, box(hello.locator(".mp-resize-se")).center, 200, 150)
    drag(page, box(hello.locator(".mp-resize-nw")).center, 500, 350)

    shrunk_from_top_left = box(hello)
    assert shrunk_from_top_left.width == HELLO_MIN_WIDTH
    assert shrunk_from_top_left.height == HELLO_MIN_HEIGHT
    assert shrunk_from_top_left.right == before.x + HELLO_MIN_WIDTH + 200
    assert shrunk_from_top_left.bottom == before.y + HELLO_MIN_HEIGHT + 150


def test_touch_drag_moves_window(open_desktop: Callable[..., Page],
                                 hello_admin: UserInfo) -> None:
    page = open_desktop(hello_admin, has_touch=True)
    hello = open_window(page)
    before = box(hello)
    x, y = box(title_bar(hello)).center
    touch = page.context.new_cdp_session(page)
    page.evaluate("""() => {
        window.pointerTypes = [];
        document.querySelector('.mp-window-titlebar').addEventListener(
            'pointerdown', (event) => window.pointerTypes.push(event.pointerType));
    }""")

    send_touch = "Input.dispatchTouchEvent"
    touch.send(send_touch, {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 9):
        point = {"x": x + step * 20, "y": y + step * 10}
        touch.send(send_touch, {"type": "touchMove", "touchPoints": [point]})
    touch.send(send_touch, {"type": "touchEnd", "touchPoints": []})

    page.wait_for_function("() => !document.querySelector('.mp-desktop-area[data-gesture]')")
    assert page.evaluate("() => window.pointerTypes") == ["touch"]
    after = box(hello)
    assert after.x == before.x + 160
    assert after.y == before.y + 80
