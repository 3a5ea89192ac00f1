"""TicketCloud's SLA window in Chromium: calendars with breaks and holidays, policies with
targets and escalation, the server's field errors at their controls, policy order, and
the window closed to agents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Dialog, FrameLocator, Locator, Page, expect

from portal.models import Role
from tests.browser.desktop import open_window, wait_for_app_page
from tests.support import Factory, PortalServer, TenantInfo, UserInfo

pytestmark = pytest.mark.browser

API = "/apps/ticketcloud/api/v1"
HOSTILE = '<img src=x onerror="window.__xss=1">Night & <b>day</b>'
OFFICE_HOURS = {day: [["09:00", "12:00"], ["13:00", "17:00"]]
                for day in ("mon", "tue", "wed", "thu", "fri")}
ICAL = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    "BEGIN:VEVENT\r\nUID:a@test\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;VALUE=DATE:20261231\r\nSUMMARY:Year end\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


@pytest.fixture
def desk(factory: Factory) -> TenantInfo:
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    return tenant


@pytest.fixture
def admin(factory: Factory, desk: TenantInfo) -> UserInfo:
    return factory.user(desk, Role.ADMIN, name="Alice Admin")


@pytest.fixture
def admin_api(server: PortalServer, factory: Factory, admin: UserInfo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url + API, timeout=10, headers={
            "Authorization": f"Bearer {factory.api_token(admin)}"}) as client:
        yield client


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def open_queue(page: Page) -> FrameLocator:
    queue = open_window(page, "ticketcloud", "queue")
    wait_for_app_page(page, queue, "[data-view='mine']")
    return queue.frame_locator("iframe.mp-window-frame")


def open_sla(page: Page) -> FrameLocator:
    open_queue(page).locator("#open-sla").click()
    win = page.locator(".mp-window[data-window-type='admin_sla']")
    expect(win).to_have_count(1)
    sla = win.frame_locator("iframe.mp-window-frame")
    expect(sla.locator("#new-policy")).to_have_text("New policy")
    expect(sla.locator("#new-policy")).to_be_enabled()
    return sla


def accept_dialogs(page: Page) -> None:
    def accept(dialog: Dialog) -> None:
        dialog.accept()

    page.on("dialog", accept)


def interval(day: Locator, index: int, part: str) -> Locator:
    return day.locator(".tc-interval").nth(index).locator(f"[data-part={part}]")


def test_calendar_with_lunch_break_saved(open_desktop: Callable[..., Page], admin: UserInfo,
                                         admin_api: httpx.Client) -> None:
    sla = open_sla(open_desktop(admin))
    sla.get_by_role("button", name="New calendar").click()
    editor = sla.locator("#calendar-editor")
    editor.get_by_label("Name", exact=True).fill("Office")
    editor.get_by_label("Time zone").select_option("Europe/Berlin")

    saturday = editor.locator("fieldset[data-day=sat]")
    expect(saturday).to_contain_text("Closed")
    saturday.get_by_role("button", name="Add an interval on Saturday").click()
    interval(saturday, 0, "start").fill("08:00")
    interval(saturday, 0, "end").fill("11:00")
    saturday.get_by_role("button", name="Add an interval on Saturday").click()
    interval(saturday, 1, "start").fill("10:30")
    interval(saturday, 1, "end").fill("13:00")
    friday = editor.locator("fieldset[data-day=fri]")
    friday.get_by_role("button", name="Remove interval 2 on Friday").click()
    editor.get_by_label("Date").fill("2026-12-24")
    editor.get_by_label("Holiday name").fill("Christmas Eve")
    editor.get_by_role("button", name="Add holiday").click()
    editor.get_by_role("button", name="Save calendar").click()

    error = saturday.locator(":scope > .tc-field-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("overlap")
    expect(saturday.get_by_role("button", name="Add an interval on Saturday")).to_have_attribute(
        "aria-invalid", "true")
    expect(sla.locator("#status")).to_have_attribute("data-kind", "error")
    assert admin_api.get("/sla/calendars").json()["items"] == []

    interval(saturday, 1, "start").fill("11:30")
    editor.get_by_role("button", name="Save calendar").click()
    expect(sla.locator("#status")).to_have_text("Calendar saved.")
    expect(error).to_be_hidden()
    expect(sla.locator("#calendars [data-calendar-id]")).to_contain_text("Office")

    [calendar] = admin_api.get("/sla/calendars").json()["items"]
    assert calendar["name"] == "Office"
    assert calendar["time_zone"] == "Europe/Berlin"
    assert calendar["hours"]["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert calendar["hours"]["fri"] == [["09:00", "12:00"]]
    assert calendar["hours"]["sat"] == [["08:00", "11:00"], ["11:30", "13:00"]]
    assert "sun" not in calendar["hours"]
    assert calendar["holidays"] == [{"date": "2026-12-24", "name": "Christmas Eve"}]


def test_calendar_imports_ical_file(open_desktop: Callable[..., Page], admin: UserInfo,
                                    admin_api: httpx.Client) -> None:
    calendar = created(admin_api.post("/sla/calendars", json={
        "name": "Office", "hours": OFFICE_HOURS,
        "holidays": [{"date": "2026-05-01", "name": "Labour Day"}]}))
    sla = open_sla(open_desktop(admin))
    sla.get_by_role("button", name="Edit calendar “Office”").click()
    editor = sla.locator("#calendar-editor")
    editor.get_by_role("button", name="Import file").click()
    expect(editor.locator(".tc-field-error:visible")).to_have_text("Choose an .ics file first.")

    editor.get_by_label("iCalendar file (.ics)").set_input_files(
        {"name": "holidays.ics", "mimeType": "text/calendar", "buffer": ICAL.encode()})
    editor.get_by_role("button", name="Import file").click()
    expect(sla.locator("#status")).to_have_text("Holidays imported: the calendar now has 2.")
    expect(editor.locator(".tc-holiday[data-date='2026-12-31']")).to_contain_text("Year end")

    holidays = admin_api.get(f"/sla/calendars/{calendar['id']}").json()["holidays"]
    assert holidays == [{"date": "2026-05-01", "name": "Labour Day"},
                        {"date": "2026-12-31", "name": "Year end"}]


def test_policy_with_targets_and_escalation(open_desktop: Callable[..., Page], admin: UserInfo,
                                            admin_api: httpx.Client) -> None:
    team = created(admin_api.post("/teams", json={"name": "Escalations"}))
    calendar = created(admin_api.post("/sla/calendars", json={
        "name": "Office", "time_zone": "Europe/Berlin", "hours": OFFICE_HOURS}))
    sla = open_sla(open_desktop(admin))
    sla.get_by_role("button", name="New policy").click()
    editor = sla.locator("#policy-editor")
    editor.get_by_label("Name", exact=True).fill("Urgent VIPs")
    editor.get_by_role("button", name="Save policy").click()

    first_response_error = editor.locator(".tc-policy-targets .tc-field-error").first
    expect(first_response_error).to_contain_text("sets no target")
    expect(editor.get_by_label("First response, hours")).to_be_focused()

    editor.get_by_label("Calendar").select_option(str(calendar["id"]))
    editor.locator("[data-condition=priorities]").get_by_label("Urgent").check()
    editor.locator("[data-condition=team_ids]").get_by_label("Escalations").check()
    editor.get_by_label("Customer emails or domains").fill("vip.example, boss@big.example")
    editor.get_by_label("First response, hours").fill("1")
    editor.get_by_label("First response, minutes").fill("30")
    editor.get_by_label("Resolution, hours").fill("8")
    editor.get_by_label("Warn when").fill("75")
    editor.get_by_label("Raise the priority").check()
    editor.get_by_label("Raise to").select_option("urgent")
    editor.get_by_label("Reassign to a team").check()
    editor.get_by_label("Team to reassign to").select_option(str(team["id"]))
    editor.get_by_role("button", name="Save policy").click()
    expect(sla.locator("#status")).to_have_text("Policy saved.")
    expect(editor).to_be_hidden()

    [policy] = admin_api.get("/sla/policies").json()["items"]
    assert policy["name"] == "Urgent VIPs"
    assert policy["calendar_id"] == calendar["id"]
    assert policy["conditions"] == {"priorities": ["urgent"], "team_ids": [team["id"]],
                                    "customers": ["boss@big.example", "vip.example"]}
    assert policy["first_response_minutes"] == 90
    assert policy["next_response_minutes"] is None
    assert policy["resolution_minutes"] == 480
    assert policy["warning_percent"] == 75
    assert policy["escalation"] == [{"action": "raise_priority", "priority": "urgent"},
                                    {"action": "reassign", "team_id": team["id"]}]
    summary = sla.locator(f"[data-policy-id='{policy['id']}'] .tc-sla-summary")
    expect(summary).to_contain_text("First response 1h 30m")
    expect(summary).to_contain_text("Calendar: Office")


def test_policies_reordered_with_keyboard(open_desktop: Callable[..., Page], admin: UserInfo,
                                          admin_api: httpx.Client) -> None:
    catch_all = created(admin_api.post("/sla/policies", json={
        "name": "Everyone", "resolution_minutes": 2880}))
    urgent = created(admin_api.post("/sla/policies", json={
        "name": "Urgent", "conditions": {"priorities": ["urgent"]},
        "first_response_minutes": 60}))
    assert urgent["shadowed_by"] == catch_all["id"]
    sla = open_sla(open_desktop(admin))
    items = sla.locator("#policies [data-policy-id]")
    expect(items).to_have_count(2)
    urgent_item = sla.locator(f"[data-policy-id='{urgent['id']}']")
    expect(urgent_item.locator("[data-role=shadowed]")).to_contain_text("“Everyone”")

    urgent_item.get_by_role("button", name="Move policy “Urgent” up").focus()
    urgent_item.get_by_role("button", name="Move policy “Urgent” up").press("Enter")
    expect(sla.locator("#status")).to_have_text("Policy order saved.")
    expect(items.first).to_have_attribute("data-policy-id", str(urgent["id"]))
    expect(urgent_item.get_by_role("button", name="Move policy “Urgent” down")).to_be_focused()
    expect(sla.locator("[data-role=shadowed]")).to_have_count(0)

    order = [policy["id"] for policy in admin_api.get("/sla/policies").json()["items"]]
    assert order == [urgent["id"], catch_all["id"]]


def test_calendar_in_use_not_deleted(open_desktop: Callable[..., Page], admin: UserInfo,
                                     admin_api: httpx.Client) -> None:
    calendar = created(admin_api.post("/sla/calendars", json={
        "name": "Office", "hours": OFFICE_HOURS}))
    created(admin_api.post("/sla/policies", json={
        "name": "Gold", "calendar_id": calendar["id"], "resolution_minutes": 600}))
    page = open_desktop(admin)
    accept_dialogs(page)
    sla = open_sla(page)
    sla.get_by_role("button", name="Delete calendar “Office”").click()

    item = sla.locator(f"[data-calendar-id='{calendar['id']}']")
    expect(item.locator("[data-role=error]")).to_have_text(
        "The calendar “Office” is used by the policies “Gold”. Give them another calendar "
        "before deleting it.")
    expect(sla.locator("#status")).to_have_attribute("data-kind", "error")
    assert admin_api.get(f"/sla/calendars/{calendar['id']}").status_code == 200


def test_agent_cannot_open_window(open_desktop: Callable[..., Page], factory: Factory,
                                  desk: TenantInfo) -> None:
    agent = factory.user(desk, Role.AGENT, name="Ada Agent")
    page = open_desktop(agent)
    queue = open_queue(page)

    expect(queue.locator("#open-sla")).to_be_hidden()
    response = page.request.get("/apps/ticketcloud/admin/sla")
    assert response.status == 403
    assert page.request.get(API + "/sla/policies").status == 403


def test_hostile_names_render_as_text(open_desktop: Callable[..., Page], admin: UserInfo,
                                      admin_api: httpx.Client) -> None:
    team = created(admin_api.post("/teams", json={"name": HOSTILE}))
    calendar = created(admin_api.post("/sla/calendars", json={
        "name": HOSTILE, "hours": OFFICE_HOURS,
        "holidays": [{"date": "2026-12-25", "name": HOSTILE}]}))
    created(admin_api.post("/sla/policies", json={
        "name": HOSTILE, "calendar_id": calendar["id"], "resolution_minutes": 60}))
    shadowed = created(admin_api.post("/sla/policies", json={
        "name": "Team policy", "conditions": {"team_ids": [team["id"]]},
        "resolution_minutes": 30}))
    sla = open_sla(open_desktop(admin))

    expect(sla.locator(".tc-sla-name").first).to_have_text(HOSTILE)
    shadowed_item = sla.locator(f"[data-policy-id='{shadowed['id']}']")
    expect(shadowed_item.locator("[data-role=shadowed]")).to_contain_text(HOSTILE)
    sla.get_by_role("button", name=f"Edit calendar “{HOSTILE}”").click()
    expect(sla.locator("#calendar-name")).to_have_value(HOSTILE)
    expect(sla.locator(".tc-holiday-name")).to_have_text(HOSTILE)
    shadowed_item.get_by_role("button", name="Edit policy “Team policy”").click()
    editor = sla.locator("#policy-editor")
    expect(editor.locator("[data-condition=team_ids]")).to_contain_text(HOSTILE)
    expect(editor.locator(".tc-warning")).to_contain_text(HOSTILE)

    assert sla.locator("img, b").count() == 0
    assert sla.locator("body").evaluate("() => window.__xss ?? null") is None
