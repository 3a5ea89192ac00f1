"""The due time an agent sets on a ticket through PATCH tickets/{number}: as UTC or as
wall-clock time in the agent's zone, with the version check, history, the overdue
view, and closed to customers and other workspaces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, create_ticket, error_of


def agent_ticket(api: ApiWorkspace, **fields: Any) -> dict[str, Any]:
    return create_ticket(api.client("agent"), requester_email="carla@customer.example", **fields)


def patch(api: ApiWorkspace, ticket: dict[str, Any], role: str = "agent", **changes: Any) -> Any:
    return api.client(role).patch(
        f"/tickets/{ticket['number']}", json={"version": ticket["version"], **changes}
    )


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def test_due_local_read_in_agent_zone(api: ApiWorkspace) -> None:
    ticket = agent_ticket(api)

    response = patch(api, ticket, due_local="2026-07-01T17:30", time_zone="Europe/Paris")
    body = response.json()

    assert response.status_code == 200, response.text
    # Paris is UTC+2 in summer.
    assert body["due_at"] == "2026-07-01T15:30:00Z"
    assert body["version"] == ticket["version"] + 1
    assert body["history"][-1]["field"] == "due"
    assert body["history"][-1]["old"] is None
    assert body["history"][-1]["new"] == "2026-07-01T15:30:00Z"
    assert api.client("agent").get(f"/tickets/{ticket['number']}").json()["due_at"] == (
        "2026-07-01T15:30:00Z"
    )


def test_due_local_in_winter_and_other_zone(api: ApiWorkspace) -> None:
    ticket = agent_ticket(api)

    response = patch(api, ticket, due_local="2026-12-01T09:00", time_zone="America/New_York")

    assert response.status_code == 200, response.text
    assert response.json()["due_at"] == "2026-12-01T14:00:00Z"


@pytest.mark.parametrize(
    ("due_at", "stored"),
    [
        ("2026-07-01T17:30:00+02:00", "2026-07-01T15:30:00Z"),
        ("2026-07-01T15:30:45.900Z", "2026-07-01T15:30:45Z"),
        ("2026-07-01T10:30:00-05:00", "2026-07-01T15:30:00Z"),
    ],
)
def test_due_at_with_offset_stored_utc(api: ApiWorkspace, due_at: str, stored: str) -> None:
    ticket = agent_ticket(api)

    response = patch(api, ticket, due_at=due_at)

    assert response.status_code == 200, response.text
    assert response.json()["due_at"] == stored


def test_due_at_null_clears(api: ApiWorkspace) -> None:
    ticket = agent_ticket(api)
    ticket = patch(api, ticket, due_at="2026-07-01T15:30:00Z").json()

    response = patch(api, ticket, due_at=None)
    body = response.json()

    assert response.status_code == 200, response.text
    assert body["due_at"] is None
    assert body["history"][-1]["field"] == "due"
    assert body["history"][-1]["old"] == "2026-07-01T15:30:00Z"
    assert body["history"][-1]["new"] is None


def test_due_unchanged_keeps_version(api: ApiWorkspace) -> None:
    ticket = agent_ticket(api)
    ticket = patch(api, ticket, due_at="2026-07-01T15:30:00Z").json()

    response = patch(api, ticket, due_local="2026-07-01T17:30", time_zone="Europe/Paris")

    assert response.status_code == 200, response.text
    assert response.json()["version"] == ticket["version"]
    assert [entry["field"] for entry in response.json()["history"]].count("due") == 1


def test_due_stale_version_conflicts(api: ApiWorkspace) -> None:
    ticket = agent_ticket(api)
    assert patch(api, ticket, priority="high").status_code == 200

    response = patch(api, ticket, due_at="2026-07-01T15:30:00Z")

    assert response.status_code == 409
    assert error_of(response)["code"] == "stale_version"
    assert error_of(response)["field"] == "version"
    assert api.client("agent").get(f"/tickets/{ticket['number']}").json()["due_at"] is None


def test_due_local_skipped_time_rejected(api: ApiWorkspace) -> None:
    ticket = agent_ticket(api)

    # Paris moves its clocks from 02:00 to 03:00 on 29 March 2026.
    response = patch(api, ticket, due_local="2026-03-29T02:30", time_zone="Europe/Paris")
    error = error_of(response)

    assert response.status_code == 422
    assert error["field"] == "due_local"
    assert "does not exist in Europe/Paris" in error["message"]
    assert "Enter a time after the change" in error["message"]


def test_due_local_repeated_time_rejected(api: ApiWorkspace) -> None:
    ticket = agent_ticket(api)

    # Paris moves its clocks from 03:00 back to 02:00 on 25 October 2026.
    response = patch(api, ticket, due_local="2026-10-25T02:30", time_zone="Europe/Paris")
    error = error_of(response)

    assert response.status_code == 422
    assert error["field"] == "due_local"
    assert "occurs twice in Europe/Paris" in error["message"]
    assert "outside the repeated hour" in error["message"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"due_local": "2026-07-01T17:30", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"due_local": "2026-07-01T17:30", "time_zone": ""}, "time_zone"),
        ({"due_local": "2026-07-01T17:30", "time_zone": 42}, "time_zone"),
        ({"due_local": "2026-07-01T17:30"}, "time_zone"),
        ({"time_zone": "Europe/Paris"}, "due_local"),
        ({"due_local": None, "time_zone": "Europe/Paris"}, "due_local"),
        ({"due_local": "2026-07-01", "time_zone": "Europe/Paris"}, "due_local"),
        ({"due_local": "2026-07-01T17:30+02:00", "time_zone": "Europe/Paris"}, "due_local"),
        ({"due_local": "tomorrow", "time_zone": "Europe/Paris"}, "due_local"),
        (
            {
                "due_local": "2026-07-01T17:30",
                "time_zone": "Europe/Paris",
                "due_at": "2026-07-01T15:30:00Z",
            },
            "due_local",
        ),
        ({"due_at": "2026-07-01T17:30"}, "due_at"),
        ({"due_at": "2026-07-01"}, "due_at"),
        ({"due_at": "2026-13-01T17:30:00Z"}, "due_at"),
        ({"due_at": 1782919800}, "due_at"),
        ({"due_at": "9999-12-31T23:59:00Z"}, "due_at"),
        ({"due_local": "2099-07-01T17:30", "time_zone": "Europe/Paris"}, "due_local"),
    ],
)
def test_due_invalid_rejected(api: ApiWorkspace, changes: dict[str, Any], field: str) -> None:
    ticket = agent_ticket(api)

    response = patch(api, ticket, **changes)

    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == field
    assert error_of(response)["message"]
    after = api.client("agent").get(f"/tickets/{ticket['number']}").json()
    assert after["due_at"] is None
    assert after["version"] == ticket["version"]


def test_due_with_other_field_is_atomic(api: ApiWorkspace) -> None:
    ticket = agent_ticket(api)

    response = patch(
        api, ticket, priority="urgent", due_local="2026-03-29T02:30", time_zone="Europe/Paris"
    )
    after = api.client("agent").get(f"/tickets/{ticket['number']}").json()

    assert response.status_code == 422
    assert after["priority"] == ticket["priority"]
    assert after["version"] == ticket["version"]


def test_due_hidden_from_customer(api: ApiWorkspace) -> None:
    ticket = create_ticket(api.client("customer"))
    staff_view = api.client("agent").get(f"/tickets/{ticket['number']}").json()
    assert patch(api, staff_view, due_at="2026-07-01T15:30:00Z").status_code == 200

    single = api.client("customer").get(f"/tickets/{ticket['number']}").json()
    listed = api.client("customer").get("/tickets").json()["items"]

    assert "due_at" not in single
    assert all("due_at" not in item for item in listed)
    assert "due_at" not in str(single["messages"])


def test_due_customer_cannot_set(api: ApiWorkspace) -> None:
    created = create_ticket(api.client("customer"))
    ticket = api.client("agent").get(f"/tickets/{created['number']}").json()

    own = patch(api, ticket, "customer", due_at="2026-07-01T15:30:00Z")
    other = patch(
        api, ticket, "other_customer", due_local="2026-07-01T17:30", time_zone="Europe/Paris"
    )

    assert own.status_code == 403
    assert other.status_code == 403
    assert api.client("agent").get(f"/tickets/{ticket['number']}").json()["due_at"] is None


def test_due_other_tenant_not_found(api: ApiWorkspace, other_api: ApiWorkspace) -> None:
    ticket = agent_ticket(api)

    response = other_api.client("admin").patch(
        f"/tickets/{ticket['number']}",
        json={"version": ticket["version"], "due_at": "2026-07-01T15:30:00Z"},
    )

    assert response.status_code == 404
    assert api.client("agent").get(f"/tickets/{ticket['number']}").json()["due_at"] is None


def test_overdue_view_lists_past_agent_due(fresh_api: ApiWorkspace) -> None:
    past = agent_ticket(fresh_api, subject="Promised yesterday")
    future = agent_ticket(fresh_api, subject="Promised next week")
    solved = agent_ticket(fresh_api, subject="Promised and done")
    now = datetime.now(UTC)
    assert patch(fresh_api, past, due_at=iso(now - timedelta(days=1))).status_code == 200
    assert patch(fresh_api, future, due_at=iso(now + timedelta(days=7))).status_code == 200
    solved = patch(fresh_api, solved, due_at=iso(now - timedelta(days=1))).json()
    assert patch(fresh_api, solved, status="solved").status_code == 200

    overdue = fresh_api.client("agent").get("/tickets", params={"sla": "overdue"}).json()
    at_risk = fresh_api.client("agent").get("/tickets", params={"sla": "at_risk"}).json()
    listed = fresh_api.client("agent").get("/tickets").json()["items"]

    assert [item["number"] for item in overdue["items"]] == [past["number"]]
    assert at_risk["items"] == []
    due_by_number = {item["number"]: item["due_at"] for item in listed}
    assert due_by_number[future["number"]] == iso(now + timedelta(days=7))
