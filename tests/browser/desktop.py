"""Actions and queries on the desktop shell's DOM, shared by the browser tests.

Geometry is read with `bounding_box()` in CSS pixels of the viewport. The desktop area
starts at the viewport's top left corner, so these equal the shell's own window geometry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playwright.sync_api import Locator, Page, Response, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

# The shell's title bar height (geometry.js TITLE_BAR_HEIGHT) and the part of a title bar
# a drag keeps inside the area (MIN_VISIBLE_WIDTH).
TITLE_BAR_HEIGHT = 36
MIN_VISIBLE_TITLE_WIDTH = 96
# The offset between cascaded new windows (geometry.js CASCADE_STEP).
CASCADE_STEP = 30
LAYOUT_PATH = "/api/desktop/layout"


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    @property
    def center(self) -> tuple[int, int]:
        """The center in whole pixels, because the shell rounds geometry that a drag by
        a fractional pointer position would otherwise leave half a pixel off."""
        return int(self.x + self.width / 2), int(self.y + self.height / 2)


def box(locator: Locator) -> Box:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not rendered"
    return Box(found["x"], found["y"], found["width"], found["height"])


def window(page: Page, window_id: str) -> Locator:
    return page.locator(f".mp-window[data-window-id='{window_id}']")


def windows(page: Page) -> Locator:
    return page.locator(".mp-window")


def window_ids(page: Page) -> list[str]:
    ids: list[str] = windows(page).evaluate_all("nodes => nodes.map(node => node.dataset.windowId)")
    return ids


def taskbar_button(page: Page, window_id: str) -> Locator:
    return page.locator(f".mp-taskbar-button[data-window-id='{window_id}']")


def launcher_item(page: Page, app: str, window_type: str) -> Locator:
    return page.locator(f".mp-launcher-item[data-app='{app}'][data-window-type='{window_type}']")


def title_bar(win: Locator) -> Locator:
    return win.locator(".mp-window-title")


def z_index(win: Locator) -> int:
    return int(win.evaluate("node => Number(node.style.zIndex)"))


def desktop_area(page: Page) -> Box:
    return box(page.locator(".mp-desktop-area"))


def click_launcher_item(page: Page, app: str, window_type: str) -> None:
    page.locator(".mp-launcher-button").click()
    launcher_item(page, app, window_type).click()


# How long a launcher click may take to add its window before the click is repeated.
LAUNCHER_CLICK_SECONDS = 10


def open_window(page: Page, app: str = "hello", window_type: str = "main") -> Locator:
    """Open a new window from the launcher and return it once it is shown and focused.

    The launcher closes when the page loses focus, such as to a window's frame that
    takes it while loading, so a click can land on a closing menu. When no window
    appears within LAUNCHER_CLICK_SECONDS, the click is repeated once."""
    before = window_ids(page)
    for attempt in range(2):
        click_launcher_item(page, app, window_type)
        try:
            page.wait_for_function(
                "before => [...document.querySelectorAll('.mp-window')]"
                ".some(node => !before.includes(node.dataset.windowId))",
                arg=before, timeout=LAUNCHER_CLICK_SECONDS * 1000 if attempt == 0 else None,
            )
            break
        except PlaywrightTimeoutError:
            if attempt == 1:
                raise
            # A menu left open would be closed, not opened, by the next button click.
            button = page.locator(".mp-launcher-button")
            if button.get_attribute("aria-expanded") == "true":
                button.click()
    new_ids = [window_id for window_id in window_ids(page) if window_id not in before]
    assert len(new_ids) == 1, f"the launcher opened {new_ids}, expected one window"
    opened = window(page, new_ids[0])
    expect(opened).to_be_visible()
    expect(opened).to_have_attribute("data-focused", "")
    return opened


def wait_for_app_page(page: Page, win: Locator, selector: str = "body") -> None:
    """Wait until the window's iframe shows `selector`, so the app's page has loaded."""
    expect(win.frame_locator("iframe.mp-window-frame").locator(selector)).to_be_visible()


def drag(page: Page, start: tuple[float, float], dx: float, dy: float, *, steps: int = 8) -> None:
    """Press the primary mouse button at `start`, move by (dx, dy) in `steps` and release."""
    x, y = start
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=steps)
    page.mouse.up()


def drag_title(page: Page, win: Locator, dx: float, dy: float, *, steps: int = 8) -> None:
    drag(page, box(title_bar(win)).center, dx, dy, steps=steps)


def move_window_to(page: Page, win: Locator, x: float, y: float) -> None:
    """Drag `win` by its title bar so that its top left corner lands on (x, y)."""
    before = box(win)
    drag_title(page, win, x - before.x, y - before.y)
    moved = box(win)
    assert (moved.x, moved.y) == (x, y), f"window is at {moved}, expected its corner at {(x, y)}"


def is_layout_put(response: Response) -> bool:
    return response.url.endswith(LAYOUT_PATH) and response.request.method == "PUT"


def saved_layout(response: Response) -> dict[str, Any]:
    body = response.request.post_data_json
    assert isinstance(body, dict), f"the layout PUT sent {body!r}"
    return body
