"""The sync windows in Chromium, between two real installations: TicketCloud's Synced
tickets window on the master, the ticket window's sync line and the system app's Sync
health window on both sides, including a child whose master went down."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import FrameLocator, Locator, Page, expect

from portal.models import Role
from tests.browser.desktop import open_window, window, window_ids
from tests.browser.test_ticketcloud_windows import open_queue, open_ticket
from tests.portal.sync.installations import Pair, pending_count, start_pair, stop_pair, wait_for
from tests.support import TenantInfo, stop_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """One child and master for the module; a test that stops the master starts it
    again before it ends."""
    started = start_pair(tmp_path_factory.mktemp("sync-windows"))
    yield started
    stop_pair(started)


def create_ticket(pair: Pair, subject: str) -> int:
    with pair.child_api() as api:
        response = api.post("/tickets", json={"subject": subject, "body": "Body.",
                                              "requester_email": "cal@example.test"})
    assert response.status_code == 201, response.text
    number: int = response.json()["number"]
    return number


def master_dir(pair: Pair) -> Path:
    return pair.master.data_dir


def frame_of(win: Locator) -> FrameLocator:
    return win.frame_locator("iframe.mp-window-frame")


def open_sync_health(page: Page) -> FrameLocator:
    """Open the Sync health window from the Apps window's button."""
    apps = open_window(page, "system", "apps")
    before = window_ids(page)
    frame_of(apps).get_by_role("button", name="Sync health…").click()
    page.wait_for_function(
        "before => [...document.querySelectorAll('.mp-window')]"
        ".some(node => !before.includes(node.dataset.windowId))", arg=before)
    new_id = next(window_id for window_id in window_ids(page) if window_id not in before)
    return frame_of(window(page, new_id))


def test_synced_tickets_and_health_on_master(open_desktop: Callable[..., Page],
                                             pair: Pair) -> None:
    create_ticket(pair, "Toner low in Lyon")
    wait_for(lambda: pending_count(pair) == 0, timeout=30, what="the ticket delivered")
    hq = TenantInfo(pair.master_tenant_id, "hq")
    admin = pair.master_factory.user(hq, Role.ADMIN)
    page = open_desktop(admin, portal=pair.master)

    synced = frame_of(open_window(page, "ticketcloud", "synced"))
    expect(synced.locator("#rows")).to_contain_text("Toner low in Lyon")
    expect(synced.locator("#rows")).to_contain_text("Branch Lyon")

    health = open_sync_health(page)
    applied = pair.master_factory.execute("SELECT items_applied FROM portal_sync_peer")[0][0]
    child_row = health.locator(f"tr[data-installation='{pair.child_installation_id}']")
    expect(child_row).to_contain_text("Branch Lyon")
    expect(child_row).to_contain_text(f"{applied} changes")
    expect(child_row).to_contain_text("0 errors")
    expect(health.locator("#child-none")).to_be_visible()


def test_health_and_ticket_line_on_child_with_master_down(
        open_desktop: Callable[..., Page], pair: Pair) -> None:
    delivered = create_ticket(pair, "Delivered before the outage")
    wait_for(lambda: pending_count(pair) == 0, timeout=30, what="the ticket delivered")
    admin = pair.child_factory.user(pair.child_agent.tenant, Role.ADMIN)
    page = open_desktop(admin, portal=pair.child)
    health = open_sync_health(page)
    expect(health.locator("[data-figure='queue_depth']")).to_contain_text("0 pending")
    expect(health.locator("[data-figure='last_error']")).to_contain_text("none")

    stop_server(pair.master)
    try:
        waiting = create_ticket(pair, "Made while the master is down")
        wait_for(lambda: pair.child_factory.execute(
            "SELECT failures FROM portal_sync_master")[0][0] >= 1, timeout=30,
            what="a failed push")
        pending = pending_count(pair)

        # The window polls every 5 seconds while it is visible.
        expect(health.locator("[data-figure='queue_depth']")).to_contain_text(
            f"{pending} pending", timeout=15_000)
        expect(health.locator("[data-figure='last_error']")).to_contain_text(
            "ConnectError", timeout=15_000)
        expect(health.locator("[data-figure='next_retry']")).not_to_contain_text(
            "not scheduled")

        queue = open_queue(page)
        _win, ticket = open_ticket(page, queue, waiting)
        line = ticket.locator("#sync-state")
        expect(line).to_have_attribute("data-state", "pending")
        expect(line).to_contain_text("Sync pending since")
        expect(line).to_contain_text("ConnectError")
    finally:
        pair.restart_master(master_dir(pair))
    assert pending >= 1
    assert waiting != delivered
