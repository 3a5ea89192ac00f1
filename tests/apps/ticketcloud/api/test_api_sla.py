"""The SLA admin API: calendars, holiday imports and policies, with role and tenant
checks, and the SLA targets in the agent's ticket view."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, create_ticket, error_of

OFFICE: dict[str, Any] = {
    "name": "Berlin office", "time_zone": "Europe/Berlin",
    "hours": {day: [["09:00", "12:00"], ["13:00", "17:00"]]
              for day in ("mon", "tue", "wed", "thu", "fri")},
}
ICAL = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:1\r\n"
        "DTSTART;VALUE=DATE:20261231\r\nSUMMARY:Closing day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def create_calendar(api: ApiWorkspace, **changes: Any) -> dict[str, Any]:
    response = api.client("admin").post("/sla/calendars", json={**OFFICE, **changes})
    assert response.status_code == 201, response.text
    calendar: dict[str, Any] = response.json()
    return calendar


def test_calendar_crud_by_admin(api: ApiWorkspace) -> None:
    admin = api.client("admin")
    created = create_calendar(api, name="Crud office")
    path = f"/sla/calendars/{created['id']}"

    fetched = admin.get(path)
    replaced = admin.put(path, json={**OFFICE, "name": "Crud office",
                                     "time_zone": "America/New_York"})
    listed = admin.get("/sla/calendars")
    deleted = admin.delete(path)

    assert fetched.json()["hours"]["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert replaced.status_code == 200
    assert replaced.json()["time_zone"] == "America/New_York"
    assert created["id"] in [item["id"] for item in listed.json()["items"]]
    assert deleted.status_code == 204
    assert admin.get(path).status_code == 404


def test_get_body_can_be_put_back(api: ApiWorkspace) -> None:
    """A calendar or policy read with GET is accepted back by PUT unchanged; an id that
    names another row is refused."""
    admin = api.client("admin")
    calendar = create_calendar(api, name="Round trip office")
    policy = admin.post("/sla/policies", json={
        "name": "Round trip", "conditions": {"customers": ["roundtrip.test"]},
        "calendar_id": calendar["id"], "first_response_minutes": 45})
    assert policy.status_code == 201, policy.text
    calendar_path = f"/sla/calendars/{calendar['id']}"
    policy_path = f"/sla/policies/{policy.json()['id']}"

    calendar_body = admin.get(calendar_path).json()
    policy_body = admin.get(policy_path).json()
    calendar_back = admin.put(calendar_path, json=calendar_body)
    policy_back = admin.put(policy_path, json=policy_body)
    wrong_id = admin.put(calendar_path, json={**calendar_body, "id": calendar["id"] + 1000})

    assert calendar_back.status_code == 200, calendar_back.text
    assert calendar_back.json() == calendar_body
    assert policy_back.status_code == 200, policy_back.text
    assert policy_back.json() == policy_body
    assert wrong_id.status_code == 422
    assert error_of(wrong_id)["field"] == "id"
    assert admin.delete(policy_path).status_code == 204
    assert admin.delete(calendar_path).status_code == 204


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_sla_api_forbidden_for_non_admins(api: ApiWorkspace, role: str) -> None:
    client = api.client(role)

    assert client.get("/sla/calendars").status_code == 403
    assert client.post("/sla/calendars", json=OFFICE).status_code == 403
    assert client.get("/sla/policies").status_code == 403
    assert client.post("/sla/policies", json={"name": "X", "first_response_minutes": 5}
                       ).status_code == 403


def test_calendar_of_other_tenant_not_found(api: ApiWorkspace, other_api: ApiWorkspace) -> None:
    calendar = create_calendar(api, name="Isolated office")
    other = other_api.client("admin")
    path = f"/sla/calendars/{calendar['id']}"

    assert other.get(path).status_code == 404
    assert other.put(path, json=OFFICE).status_code == 404
    assert other.delete(path).status_code == 404
    assert other.post(f"{path}/holidays/import", json={"ical": ICAL}).status_code == 404
    assert api.client("admin").get(path).status_code == 200


@pytest.mark.parametrize(("change", "field"), [
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"hours": {"mon": [["09:00", "12:00"], ["11:00", "14:00"]]}}, "hours.mon"),
    ({"hours": {"mon": [["12:00", "12:00"]]}}, "hours.mon[0]"),
    ({"holidays": [{"date": "3026-01-01"}]}, "holidays[0].date"),
])
def test_calendar_invalid_names_field(api: ApiWorkspace, change: dict[str, Any],
                                      field: str) -> None:
    response = api.client("admin").post("/sla/calendars", json={**OFFICE, **change,
                                                                "name": "Invalid"})

    assert response.status_code == 422
    assert error_of(response)["field"] == field


def test_import_country_holidays(api: ApiWorkspace) -> None:
    calendar = create_calendar(api, name="Munich office",
                               holidays=[{"date": "2026-12-25", "name": "Our Christmas"}])

    response = api.client("admin").post(
        f"/sla/calendars/{calendar['id']}/holidays/import",
        json={"country": "DE", "region": "BY", "years": [2026]})

    holidays = {item["date"]: item["name"] for item in response.json()["holidays"]}
    assert response.status_code == 200
    assert "2026-01-06" in holidays
    assert holidays["2026-12-25"] == "Our Christmas"


def test_import_ical_replaces_holidays(api: ApiWorkspace) -> None:
    calendar = create_calendar(api, name="Ical office", holidays=[{"date": "2026-05-01"}])

    response = api.client("admin").post(f"/sla/calendars/{calendar['id']}/holidays/import",
                                        json={"ical": ICAL, "replace": True})

    assert response.status_code == 200
    assert response.json()["holidays"] == [{"date": "2026-12-31", "name": "Closing day"}]


@pytest.mark.parametrize(("body", "field"), [
    ({"ical": "BEGIN:VCALENDAR\r\nnonsense"}, "ical"),
    ({"country": "XX", "years": [2026]}, "country"),
    ({"country": "DE", "years": [1850]}, "years"),
    ({}, "country"),
])
def test_import_invalid_names_field(api: ApiWorkspace, body: dict[str, Any],
                                    field: str) -> None:
    calendar = create_calendar(api, name=f"Import {field} {len(body)}")

    response = api.client("admin").post(f"/sla/calendars/{calendar['id']}/holidays/import",
                                        json=body)

    assert response.status_code == 422
    assert error_of(response)["field"] == field


def test_policy_crud_and_reorder(api: ApiWorkspace) -> None:
    admin = api.client("admin")
    calendar = create_calendar(api, name="Policy office")
    catch_all = admin.post("/sla/policies", json={
        "name": "Everyone", "calendar_id": calendar["id"], "resolution_minutes": 2400})
    vip = admin.post("/sla/policies", json={
        "name": "VIP", "conditions": {"customers": ["vip.test"]},
        "first_response_minutes": 30})

    shadowed = admin.get(f"/sla/policies/{vip.json()['id']}").json()["shadowed_by"]
    moved = admin.post("/sla/policies/reorder", json={"policy_id": vip.json()["id"],
                                                      "position": 0})
    replaced = admin.put(f"/sla/policies/{vip.json()['id']}", json={
        "name": "VIP", "conditions": {"customers": ["vip.test"]},
        "first_response_minutes": 15})
    in_use = admin.delete(f"/sla/calendars/{calendar['id']}")

    assert catch_all.status_code == 201
    assert shadowed == catch_all.json()["id"]
    assert [item["name"] for item in moved.json()["items"]][:2] == ["VIP", "Everyone"]
    assert moved.json()["items"][0]["shadowed_by"] is None
    assert replaced.json()["first_response_minutes"] == 15
    assert in_use.status_code == 409
    assert error_of(in_use)["code"] == "calendar_in_use"
    for policy in (catch_all, vip):
        assert admin.delete(f"/sla/policies/{policy.json()['id']}").status_code == 204


def test_policy_other_tenant_calendar_not_found(api: ApiWorkspace,
                                                other_api: ApiWorkspace) -> None:
    calendar = create_calendar(api, name="Foreign office")

    response = other_api.client("admin").post("/sla/policies", json={
        "name": "Borrowed", "calendar_id": calendar["id"], "first_response_minutes": 60})

    assert response.status_code == 404
    assert error_of(response)["field"] == "calendar_id"


def test_policy_of_other_tenant_not_found(api: ApiWorkspace, other_api: ApiWorkspace) -> None:
    admin = api.client("admin")
    policy = admin.post("/sla/policies", json={"name": "Mine", "resolution_minutes": 60,
                                               "enabled": False}).json()

    other = other_api.client("admin")
    assert other.get(f"/sla/policies/{policy['id']}").status_code == 404
    assert other.delete(f"/sla/policies/{policy['id']}").status_code == 404
    assert other.post("/sla/policies/reorder", json={"policy_id": policy["id"],
                                                     "position": 0}).status_code == 404
    assert admin.delete(f"/sla/policies/{policy['id']}").status_code == 204


def test_policy_without_target_rejected(api: ApiWorkspace) -> None:
    response = api.client("admin").post("/sla/policies", json={"name": "Empty"})

    assert response.status_code == 422
    assert error_of(response)["field"] == "first_response_minutes"


def test_ticket_view_shows_sla_targets(fresh_api: ApiWorkspace) -> None:
    admin = fresh_api.client("admin")
    policy = admin.post("/sla/policies", json={
        "name": "Round the clock", "first_response_minutes": 60, "resolution_minutes": 600})
    assert policy.status_code == 201, policy.text
    ticket = create_ticket(fresh_api.client("customer"))

    agent = fresh_api.client("agent")
    before = agent.get(f"/tickets/{ticket['number']}").json()["sla"]
    reply = agent.post(f"/tickets/{ticket['number']}/replies", json={"body": "On it."})
    after = agent.get(f"/tickets/{ticket['number']}").json()["sla"]
    customer_view = fresh_api.client("customer").get(f"/tickets/{ticket['number']}").json()

    assert sorted(target["kind"] for target in before) == ["first_response", "resolution"]
    assert {target["state"] for target in before} == {"running"}
    assert reply.status_code == 201
    assert {target["kind"]: target["state"] for target in after} == {
        "first_response": "met", "resolution": "running"}
    assert "sla" not in customer_view
