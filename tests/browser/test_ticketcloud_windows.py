"""TicketCloud's agent windows: the queue, the ticket window and their live updates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import FrameLocator, Locator, Page, Route, expect

from portal.models import Role
from tests.browser.desktop import open_window, taskbar_button, title_bar, wait_for_app_page
from tests.support import Factory, PortalServer, TenantInfo, UserInfo

pytestmark = pytest.mark.browser

API = "/apps/ticketcloud/api/v1"
HOSTILE_SUBJECT = '<img src=x onerror="window.__xss=1"><b>Printer</b> on fire'
# "The printer does not print" in Hebrew.
RTL_SUBJECT = ("\u05d4\u05de\u05d3\u05e4\u05e1\u05ea \u05dc\u05d0 "
               "\u05de\u05d3\u05e4\u05d9\u05e1\u05d4")
STALE_MESSAGE = "Someone else changed this ticket; reloaded with their changes"
# The internal note's background (--tc-note-bg in windows.css).
NOTE_BACKGROUND = "rgb(255, 246, 204)"
# The queue's page size (PER_PAGE in queue.js).
QUEUE_PAGE = 25


@pytest.fixture
def ticket_tenant(factory: Factory) -> TenantInfo:
    """A fresh workspace with TicketCloud installed."""
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    return tenant


@pytest.fixture
def agent(factory: Factory, ticket_tenant: TenantInfo) -> UserInfo:
    return factory.user(ticket_tenant, Role.AGENT, name="Ada Agent")


@pytest.fixture
def api(server: PortalServer, factory: Factory, agent: UserInfo) -> Iterator[httpx.Client]:
    """An API client with the agent's bearer token."""
    token = factory.api_token(agent)
    with httpx.Client(base_url=server.base_url + API, timeout=10,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def create_ticket(api: httpx.Client, subject: str) -> dict[str, Any]:
    response = api.post("/tickets", json={
        "subject": subject, "body": "It does not print.",
        "requester_email": "carla@customer.example", "requester_name": "Carla Customer",
    })
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def assign(api: httpx.Client, ticket: dict[str, Any], user: UserInfo) -> None:
    response = api.patch(f"/tickets/{ticket['number']}",
                         json={"assignee_id": user.id, "version": ticket["version"]})
    assert response.status_code == 200, response.text


def app_frame(win: Locator) -> FrameLocator:
    return win.frame_locator("iframe.mp-window-frame")


def open_queue(page: Page, view: str = "open") -> FrameLocator:
    """Open the queue window and show `view` (the tab's data-view)."""
    queue = open_window(page, "ticketcloud", "queue")
    wait_for_app_page(page, queue, "[data-view='mine']")
    frame = app_frame(queue)
    frame.locator(f"[data-view='{view}']").click()
    expect(frame.locator(f"[data-view='{view}']")).to_have_attribute("aria-pressed", "true")
    return frame


def ticket_row(frame: FrameLocator, number: int) -> Locator:
    return frame.locator(f"tr[data-number='{number}']")


def open_ticket(page: Page, queue: FrameLocator, number: int) -> tuple[Locator, FrameLocator]:
    """Click the ticket's row in the queue and return its window and the window's frame."""
    ticket_row(queue, number).click()
    win = page.locator(".mp-window[data-window-type='ticket']")
    expect(win).to_have_count(1)
    frame = app_frame(win)
    expect(frame.locator("#number")).to_have_text(f"#{number}")
    return win, frame


def test_agent_works_ticket_from_queue(open_desktop: Callable[..., Page], api: httpx.Client,
                                       agent: UserInfo) -> None:
    ticket = create_ticket(api, "Printer jams")
    number = ticket["number"]
    page = open_desktop(agent)
    queue = open_queue(page)
    row = ticket_row(queue, number)
    expect(row.locator(".tc-col-subject")).to_have_text("Printer jams")
    expect(row.locator(".tc-col-requester")).to_have_text("Carla Customer")

    win, frame = open_ticket(page, queue, number)
    expect(title_bar(win)).to_have_text(f"#{number} Printer jams")

    frame.locator("#composer-body").fill("Checked the tray, looks fine.")
    frame.get_by_role("button", name="Add internal note").click()
    note = frame.locator(".tc-message[data-visibility='internal']")
    expect(note).to_have_count(1)
    expect(note.locator(".tc-message-body")).to_have_text("Checked the tray, looks fine.")
    expect(note.locator(".tc-message-label")).to_have_text("Internal note")
    expect(note).to_have_css("background-color", NOTE_BACKGROUND)

    frame.locator("#composer-body").fill("We are on it.")
    frame.get_by_role("button", name="Reply publicly").click()
    reply = frame.locator(".tc-message.tc-message-agent[data-visibility='public']")
    expect(reply).to_have_count(1)
    expect(reply.locator(".tc-message-body")).to_have_text("We are on it.")
    assert reply.evaluate("node => getComputedStyle(node).backgroundColor") != NOTE_BACKGROUND

    frame.locator("#status-control").select_option("solved")
    expect(frame.locator("#status")).to_have_text("Saved.")
    expect(frame.locator("#status-control")).to_have_value("solved")
    stored = api.get(f"/tickets/{number}").json()
    assert stored["status"] == "solved"
    assert [message["visibility"] for message in stored["messages"]] == [
        "public", "internal", "public"]


def test_queue_updates_live_for_colleague(open_desktop: Callable[..., Page], factory: Factory,
                                          api: httpx.Client, agent: UserInfo) -> None:
    colleague = factory.user(agent.tenant, Role.AGENT, name="Bo Colleague")
    number = create_ticket(api, "Screen flickers")["number"]
    colleague_page = open_desktop(colleague)
    colleague_queue = open_queue(colleague_page)
    expect(ticket_row(colleague_queue, number)).to_have_count(1)
    colleague_frame = colleague_page.locator(
        ".mp-window[data-window-type='queue'] iframe").element_handle().content_frame()
    assert colleague_frame is not None
    colleague_frame.evaluate("() => { window.notReloaded = true; }")
    page = open_desktop(agent)
    _, frame = open_ticket(page, open_queue(page), number)

    frame.locator("#status-control").select_option("solved")

    expect(ticket_row(colleague_queue, number)).to_have_count(0)
    created = create_ticket(api, "New keyboard")["number"]
    expect(ticket_row(colleague_queue, created)).to_have_count(1)
    assert colleague_frame.evaluate("() => window.notReloaded") is True


def test_stale_edit_shows_conflict(open_desktop: Callable[..., Page], api: httpx.Client,
                                   agent: UserInfo) -> None:
    ticket = create_ticket(api, "VPN drops")
    number = ticket["number"]
    page = open_desktop(agent)
    _, frame = open_ticket(page, open_queue(page), number)
    expect(frame.locator("#priority-control")).to_have_value("normal")

    def change_first(route: Route) -> None:
        # Another agent saves a change just before this window's PATCH arrives.
        if route.request.method == "PATCH":
            response = api.patch(f"/tickets/{number}",
                                 json={"priority": "urgent", "version": ticket["version"]})
            assert response.status_code == 200, response.text
        route.continue_()

    page.route(f"**{API}/tickets/{number}", change_first)
    frame.locator("#priority-control").select_option("low")

    expect(frame.locator("#status")).to_have_text(STALE_MESSAGE)
    expect(frame.locator("#status")).to_have_attribute("data-kind", "error")
    expect(frame.locator("#priority-control")).to_have_value("urgent")
    assert api.get(f"/tickets/{number}").json()["priority"] == "urgent"


def test_hostile_subject_shows_as_text(open_desktop: Callable[..., Page], api: httpx.Client,
                                       agent: UserInfo) -> None:
    number = create_ticket(api, HOSTILE_SUBJECT)["number"]
    page = open_desktop(agent)
    queue = open_queue(page)
    expect(ticket_row(queue, number).locator(".tc-col-subject")).to_have_text(HOSTILE_SUBJECT)
    assert queue.locator("#rows img, #rows b").count() == 0

    win, frame = open_ticket(page, queue, number)

    expect(frame.locator("#subject")).to_have_text(HOSTILE_SUBJECT)
    expect(title_bar(win)).to_have_text(f"#{number} {HOSTILE_SUBJECT}")
    assert frame.locator("img, b").count() == 0
    for win_frame in page.frames:
        assert win_frame.evaluate("() => window.__xss") is None


def bidi_of(locator: Locator) -> tuple[str, str]:
    """Return the computed `direction` and `unicode-bidi` of the element."""
    found: list[str] = locator.evaluate(
        "node => [getComputedStyle(node).direction, getComputedStyle(node).unicodeBidi]")
    return found[0], found[1]


def test_right_to_left_subject_isolated(open_desktop: Callable[..., Page], api: httpx.Client,
                                        agent: UserInfo) -> None:
    """A Hebrew subject reads right to left in the title bar, the taskbar and the toast,
    each isolated from the shell's text around it. An English one stays left to right."""
    hebrew = create_ticket(api, RTL_SUBJECT)
    english = create_ticket(api, "Printer jams")
    page = open_desktop(agent)
    queue = open_queue(page)

    win, _ = open_ticket(page, queue, hebrew["number"])
    expect(title_bar(win)).to_have_text(f"#{hebrew['number']} {RTL_SUBJECT}")
    window_id = win.get_attribute("data-window-id")
    assert window_id is not None
    title = taskbar_button(page, window_id).locator(".mp-taskbar-title")
    assert bidi_of(title_bar(win)) == ("rtl", "isolate")
    assert bidi_of(title) == ("rtl", "isolate")

    assign(api, hebrew, agent)
    toast = page.locator(".mp-toast")
    expect(toast.locator(".mp-toast-body")).to_have_text(RTL_SUBJECT)
    assert bidi_of(toast.locator(".mp-toast-body")) == ("rtl", "isolate")
    assert bidi_of(toast.locator(".mp-toast-title")) == ("ltr", "isolate")

    win.locator(".mp-window-close").click()
    win, _ = open_ticket(page, queue, english["number"])
    assert bidi_of(title_bar(win)) == ("ltr", "isolate")


def test_queue_load_more_appends_next_page(open_desktop: Callable[..., Page],
                                           api: httpx.Client, agent: UserInfo) -> None:
    numbers = [create_ticket(api, f"Laptop {index}")["number"] for index in range(QUEUE_PAGE + 2)]
    page = open_desktop(agent)
    queue = open_queue(page)
    frame_rows = queue.locator("tr[data-number]")
    expect(frame_rows).to_have_count(QUEUE_PAGE)

    queue.get_by_role("button", name="Load more").click()

    expect(frame_rows).to_have_count(len(numbers))
    expect(queue.get_by_role("button", name="Load more")).to_be_hidden()
    shown = [int(number) for number in frame_rows.evaluate_all(
        "rows => rows.map(row => row.dataset.number)")]
    assert shown == sorted(numbers, reverse=True)


def test_queue_search_filters_rows(open_desktop: Callable[..., Page], api: httpx.Client,
                                   agent: UserInfo) -> None:
    wanted = create_ticket(api, "Monitor cable missing")["number"]
    other = create_ticket(api, "Mouse double-clicks")["number"]
    page = open_desktop(agent)
    queue = open_queue(page)
    expect(ticket_row(queue, other)).to_have_count(1)

    queue.locator("#search").fill("cable")

    expect(ticket_row(queue, other)).to_have_count(0)
    expect(ticket_row(queue, wanted)).to_have_count(1)


def test_admin_creates_rule_and_dry_runs(open_desktop: Callable[..., Page], factory: Factory,
                                         ticket_tenant: TenantInfo) -> None:
    admin = factory.user(ticket_tenant, Role.ADMIN, name="Ann Admin")
    page = open_desktop(admin)
    queue = open_window(page, "ticketcloud", "queue")
    wait_for_app_page(page, queue, "#open-rules")
    app_frame(queue).locator("#open-rules").click()
    rules = app_frame(page.locator(".mp-window[data-window-type='admin_rules']"))
    expect(rules.locator("#rules")).to_contain_text("No rules yet")

    rules.get_by_role("button", name="New rule").click()
    rules.locator("#rule-name").fill("Printers are urgent")
    rules.get_by_label("Value").first.fill("printer")
    rules.get_by_label("Action").select_option("set_priority")
    rules.locator("#rule-actions").get_by_label("Value").select_option("urgent")
    rules.get_by_role("button", name="Save rule").click()
    expect(rules.locator(".tc-rule-name")).to_have_text(["Printers are urgent"])

    rules.locator("#sample-subject").fill("Printer offline")
    rules.locator("#sample-sender").fill("sam@customer.example")
    rules.get_by_role("button", name="Run").click()
    expect(rules.locator("#dry-run-result li")).to_have_text([
        "Fires: Printers are urgent", "Result: priority = Urgent"])


def test_queue_badge_counts_my_open_tickets(open_desktop: Callable[..., Page],
                                            api: httpx.Client, agent: UserInfo) -> None:
    first = create_ticket(api, "Assigned first")
    second = create_ticket(api, "Assigned later")
    assign(api, first, agent)
    page = open_desktop(agent)
    queue = open_queue(page, "mine")
    badge = page.locator(".mp-taskbar-button[data-app='ticketcloud'] .mp-taskbar-badge")
    expect(badge).to_have_text("1")
    expect(queue.locator("tr[data-number]")).to_have_count(1)

    assign(api, second, agent)

    expect(badge).to_have_text("2")
    expect(ticket_row(queue, second["number"])).to_have_count(1)


def test_ticket_window_follows_changes(open_desktop: Callable[..., Page], api: httpx.Client,
                                       agent: UserInfo) -> None:
    ticket = create_ticket(api, "Headset crackles")
    number = ticket["number"]
    page = open_desktop(agent)
    _, frame = open_ticket(page, open_queue(page), number)
    expect(frame.locator(".tc-message")).to_have_count(1)

    assert api.post(f"/tickets/{number}/notes", json={"body": "Seen elsewhere"}).status_code == 201
    response = api.patch(f"/tickets/{number}", json={"priority": "high",
                                                     "version": ticket["version"]})
    assert response.status_code == 200, response.text

    expect(frame.locator(".tc-message-internal .tc-message-body")).to_have_text("Seen elsewhere")
    expect(frame.locator("#priority-control")).to_have_value("high")
    expect(frame.locator("body")).to_have_attribute("data-version", str(response.json()["version"]))
    expect(frame.locator("#history")).to_contain_text("Priority: Normal → High")
