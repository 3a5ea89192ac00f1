"""TicketCloud's admin and report windows in Chromium: the Teams & categories window, the
Reports window fed by the public rating link, and an agent's away toggle."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, FrameLocator, Page, expect

from portal.models import Role
from tests.apps.ticketcloud.public.conftest import Helpdesk, ServerDomain
from tests.browser.desktop import open_window, wait_for_app_page
from tests.support import Factory, PortalServer, TenantInfo, UserInfo

pytestmark = pytest.mark.browser

API = "/apps/ticketcloud/api/v1"
HOSTILE_COMMENT = '<img src=x onerror="window.__xss=1">Quick & kind'


@pytest.fixture
def desk(factory: Factory) -> TenantInfo:
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    return tenant


@pytest.fixture
def admin(factory: Factory, desk: TenantInfo) -> UserInfo:
    return factory.user(desk, Role.ADMIN, name="Alice Admin")


@pytest.fixture
def agents(factory: Factory, desk: TenantInfo) -> list[UserInfo]:
    return [factory.user(desk, Role.AGENT, name=name) for name in ("Ada Agent", "Ben Agent")]


@pytest.fixture
def admin_api(server: PortalServer, factory: Factory, admin: UserInfo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url + API, timeout=10, headers={
            "Authorization": f"Bearer {factory.api_token(admin)}"}) as client:
        yield client


def frame_of(page: Page, window_type: str) -> FrameLocator:
    win = page.locator(f".mp-window[data-window-type='{window_type}']")
    expect(win).to_have_count(1)
    return win.frame_locator("iframe.mp-window-frame")


def open_queue(page: Page) -> FrameLocator:
    queue = open_window(page, "ticketcloud", "queue")
    wait_for_app_page(page, queue, "[data-view='mine']")
    return queue.frame_locator("iframe.mp-window-frame")


def create_ticket(client: httpx.Client, subject: str) -> dict[str, Any]:
    response = client.post("/tickets", json={
        "subject": subject, "body": "Please help.", "requester_email": "cy@customer.example",
        "requester_name": "Cy Customer"})
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def test_admin_edits_team(open_desktop: Callable[..., Page], admin: UserInfo,
                          agents: list[UserInfo], admin_api: httpx.Client) -> None:
    page = open_desktop(admin)
    queue = open_queue(page)
    queue.locator("#open-teams").click()
    teams = frame_of(page, "admin_teams")

    teams.locator("#new-team-name").fill("Level 1")
    teams.get_by_role("button", name="Add team").click()
    item = teams.locator(".tc-admin-item[data-team-id]")
    expect(item).to_have_count(1)
    item.locator("[data-field=name]").fill("Escalations")
    item.get_by_role("button", name="Rename").click()
    expect(teams.locator("#status")).to_have_text("Team saved.")
    item.locator("[data-field=strategy]").select_option("least_open")
    expect(teams.locator("#status")).to_have_text("Team saved.")
    item.locator("[data-field=new-member]").select_option(str(agents[1].id))
    item.get_by_role("button", name="Add member").click()
    member = item.locator(f"[data-user-id='{agents[1].id}']")
    expect(member).to_contain_text("Ben Agent")
    member.get_by_role("button", name="Make lead").click()
    expect(member).to_have_attribute("data-lead", "true")
    expect(member.locator(".tc-badge")).to_have_text("lead")

    listed = admin_api.get("/teams").json()["items"]
    assert [(team["name"], team["strategy"]) for team in listed] == [
        ("Escalations", "least_open")]
    assert listed[0]["member_ids"] == [agents[1].id]
    assert listed[0]["lead_ids"] == [agents[1].id]
    expect(item.locator("[data-field=name]")).to_have_value("Escalations")


def test_admin_sets_auto_close(open_desktop: Callable[..., Page], admin: UserInfo,
                               admin_api: httpx.Client) -> None:
    page = open_desktop(admin)
    open_queue(page).locator("#open-teams").click()
    teams = frame_of(page, "admin_teams")

    teams.locator("#auto-close-hours").fill("0")
    teams.get_by_role("button", name="Save settings").click()
    expect(teams.locator("#status")).to_have_attribute("data-kind", "error")
    expect(teams.locator("#status")).to_contain_text("auto_close_hours")
    teams.locator("#auto-close-hours").fill("48")
    teams.locator("#expose-category").check()
    teams.get_by_role("button", name="Save settings").click()
    expect(teams.locator("#status")).to_have_text("Settings saved.")

    assert admin_api.get("/settings").json() == {"auto_close_hours": 48,
                                                 "expose_category": True}


def test_reports_show_public_rating(open_desktop: Callable[..., Page], browser: Browser,
                                    server: PortalServer, desk: TenantInfo,
                                    agents: list[UserInfo], admin_api: httpx.Client) -> None:
    ticket = create_ticket(admin_api, "Lamp broken")
    number = ticket["number"]
    solved = admin_api.patch(f"/tickets/{number}", json={
        "assignee_id": agents[0].id, "status": "solved", "version": ticket["version"]})
    assert solved.status_code == 200, solved.text
    # The sync Playwright API keeps an event loop on this thread, and the domain helper
    # runs its own, so it runs on a worker thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        token = pool.submit(ServerDomain(server).rating_token, Helpdesk(desk, agents[0]),
                            number).result(timeout=30)

    page = open_desktop(agents[0])
    open_queue(page).locator("#open-reports").click()
    reports = frame_of(page, "reports")
    expect(reports.locator("#agents")).to_contain_text("No ratings yet.")

    customer = browser.new_context(base_url=server.base_url)
    try:
        rating_page = customer.new_page()
        rating_page.goto(f"/apps/ticketcloud/public/{desk.slug}/rate/{token}")
        rating_page.locator("input[name=score][value='4']").check()
        rating_page.locator("#comment").fill(HOSTILE_COMMENT)
        rating_page.locator("button[type=submit]").click()
        expect(rating_page.locator("body")).to_contain_text("Thank you for your rating.")
    finally:
        customer.close()

    card = reports.locator(f"[data-agent-id='{agents[0].id}']")
    expect(card.locator(".tc-report-average")).to_have_text("4.00 average")
    expect(card.locator(".tc-report-count")).to_have_text("1 ratings")
    expect(card.locator("[data-score='4']")).to_have_attribute("data-count", "1")
    expect(card.locator("[data-score='5']")).to_have_attribute("data-count", "0")
    expect(card.locator(".tc-comment-text")).to_have_text(HOSTILE_COMMENT)
    expect(card).to_contain_text("Ada Agent")
    assert card.locator("img").count() == 0
    assert page.evaluate("window.__xss") is None


def test_away_toggle_skips_agent(open_desktop: Callable[..., Page], agents: list[UserInfo],
                                 admin_api: httpx.Client) -> None:
    team_id = admin_api.post("/teams", json={"name": "Support"}).json()["id"]
    for agent in agents:
        added = admin_api.post(f"/teams/{team_id}/members", json={"user_id": agent.id})
        assert added.status_code == 201, added.text
    admin_api.post("/rules", json={
        "name": "Everything to support", "match": "any",
        "conditions": [{"field": "subject", "operator": "contains", "value": "help"}],
        "actions": [{"type": "set_team", "value": team_id}]})

    page = open_desktop(agents[0])
    queue = open_queue(page)
    away = queue.locator("#away")
    expect(away).to_have_attribute("aria-pressed", "false")
    away.click()
    expect(away).to_have_attribute("aria-pressed", "true")
    expect(queue.locator("#status")).to_contain_text("You are away")

    numbers = [create_ticket(admin_api, f"help {index}")["number"] for index in range(3)]
    assignees = {admin_api.get(f"/tickets/{number}").json()["assignee_id"] for number in numbers}

    assert assignees == {agents[1].id}
    away.click()
    expect(away).to_have_attribute("aria-pressed", "false")
    flags = {agent["id"]: agent["away"] for agent in admin_api.get("/agents").json()["items"]}
    assert flags[agents[0].id] is False


def test_queue_views_filter_on_server(open_desktop: Callable[..., Page], agents: list[UserInfo],
                                      admin_api: httpx.Client) -> None:
    team_id = admin_api.post("/teams", json={"name": "Support"}).json()["id"]
    admin_api.post(f"/teams/{team_id}/members", json={"user_id": agents[0].id})
    mine = create_ticket(admin_api, "Assigned to me")
    team = create_ticket(admin_api, "For my team")
    loose = create_ticket(admin_api, "Nobody's")
    admin_api.patch(f"/tickets/{mine['number']}",
                    json={"assignee_id": agents[0].id, "version": mine["version"]})
    admin_api.patch(f"/tickets/{team['number']}",
                    json={"team_id": team_id, "assignee_id": agents[1].id,
                          "version": team["version"]})

    page = open_desktop(agents[0])
    queue = open_queue(page)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    rows = queue.locator("tr[data-number]")

    expected = {"mine": [mine], "unassigned": [loose], "teams": [team]}
    for view, tickets in expected.items():
        queue.locator(f"[data-view='{view}']").click()
        expect(rows).to_have_count(len(tickets))
        expect(rows.first).to_have_attribute("data-number", str(tickets[0]["number"]))

    assert any("assignee=none" in url for url in requests)
    assert any("team=mine" in url for url in requests)
