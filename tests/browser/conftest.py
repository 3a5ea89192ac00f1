"""Browser fixtures: Debian's Chromium driven by Playwright against the test server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.support import PortalServer, UserInfo

CHROMIUM = os.environ.get("MIPORTAL_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach Google's
# services, which this sandbox's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}

expect.set_options(timeout=5_000)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


@pytest.fixture
def open_desktop(server: PortalServer, browser: Browser,
                 contexts: list[BrowserContext]) -> Callable[..., Page]:
    """Return a function that signs `user` in through the login form in a fresh browser
    context and returns the page once the desktop's socket is ready."""

    def open_for(user: UserInfo, *, viewport: dict[str, int] | None = None) -> Page:
        context = browser.new_context(viewport=viewport or VIEWPORT, base_url=server.base_url)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.fill("#workspace", user.tenant.slug)
        page.fill("#email", user.email)
        page.fill("#password", user.password)
        page.click("button[type=submit]")
        page.wait_for_url(server.base_url + "/")
        expect(page.locator(".mp-launcher-button")).to_be_visible()
        return page

    return open_for
