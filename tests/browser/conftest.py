"""Browser fixtures: Debian's Chromium driven by Playwright against the test server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from portal.models import Role
from tests.browser.threaded_factory import ThreadedFactory
from tests.support import Factory, PortalServer, TenantInfo, UserInfo

CHROMIUM = os.environ.get("MIPORTAL_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach Google's
# services, which this sandbox's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}

expect.set_options(timeout=10_000)


@pytest.fixture(scope="package")
def factory(server: PortalServer) -> Factory:
    return ThreadedFactory(server)


# Package scope: the sync API keeps an asyncio loop running on the main thread until it
# stops, which would break the asyncio tests that run after this package.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
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
    context and returns the page once the desktop's socket is ready. `portal` picks a
    server other than the session's, and `context_options` go to new_context()."""

    def open_for(user: UserInfo, *, viewport: ViewportSize | None = None,
                 portal: PortalServer | None = None, **context_options: Any) -> Page:
        base_url = (portal or server).base_url
        # Reduced motion turns off the launcher's and toasts' entry animations, which
        # Playwright would otherwise wait out before every click, as a stability check.
        options: dict[str, Any] = {"reduced_motion": "reduce", **context_options}
        context = browser.new_context(viewport=viewport or VIEWPORT, base_url=base_url,
                                      **options)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.fill("#workspace", user.tenant.slug)
        page.fill("#email", user.email)
        page.fill("#password", user.password)
        page.click("button[type=submit]")
        page.wait_for_url(base_url + "/")
        expect(page.locator(".mp-launcher-button")).to_be_visible()
        # Events published before the socket is ready would not show up as toasts.
        expect(page.locator(".mp-connection")).to_have_attribute("data-status", "open")
        return page

    return open_for


@pytest.fixture
def hello_tenant(factory: Factory) -> TenantInfo:
    """A fresh workspace with the example app hello installed."""
    tenant = factory.tenant()
    factory.install(tenant, "hello")
    return tenant


@pytest.fixture
def hello_admin(factory: Factory, hello_tenant: TenantInfo) -> UserInfo:
    return factory.user(hello_tenant, Role.ADMIN)
