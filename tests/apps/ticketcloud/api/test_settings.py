"""TicketCloud's settings through the REST API: admins change them within bounds."""

from __future__ import annotations

import pytest

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, error_of
from ticketcloud.models import DEFAULT_AUTO_CLOSE_HOURS
from ticketcloud.settings import MAX_AUTO_CLOSE_HOURS


def test_settings_defaults(fresh_api: ApiWorkspace) -> None:
    response = fresh_api.client("agent").get("/settings")

    assert response.status_code == 200
    assert response.json() == {"auto_close_hours": DEFAULT_AUTO_CLOSE_HOURS,
                               "expose_category": False}


def test_settings_update_keeps_others(fresh_api: ApiWorkspace) -> None:
    admin = fresh_api.client("admin")
    first = admin.patch("/settings", json={"auto_close_hours": 24})
    second = admin.patch("/settings", json={"expose_category": True})
    read = fresh_api.client("agent").get("/settings").json()

    assert first.json() == {"auto_close_hours": 24, "expose_category": False}
    assert second.json() == {"auto_close_hours": 24, "expose_category": True}
    assert read == second.json()


def test_settings_bounds_accepted(fresh_api: ApiWorkspace) -> None:
    admin = fresh_api.client("admin")
    low = admin.patch("/settings", json={"auto_close_hours": 1})
    high = admin.patch("/settings", json={"auto_close_hours": MAX_AUTO_CLOSE_HOURS})

    assert low.json()["auto_close_hours"] == 1
    assert high.json()["auto_close_hours"] == MAX_AUTO_CLOSE_HOURS


@pytest.mark.parametrize(("body", "field"), [
    ({"auto_close_hours": 0}, "auto_close_hours"),
    ({"auto_close_hours": MAX_AUTO_CLOSE_HOURS + 1}, "auto_close_hours"),
    ({"auto_close_hours": 2.5}, "auto_close_hours"),
    ({"auto_close_hours": "24"}, "auto_close_hours"),
    ({"auto_close_hours": True}, "auto_close_hours"),
    ({"auto_close_hours": None}, "auto_close_hours"),
    ({"expose_category": "yes"}, "expose_category"),
    ({"expose_category": None}, "expose_category"),
    ({"timezone": "UTC"}, "timezone"),
])
def test_settings_invalid(fresh_api: ApiWorkspace, body: dict[str, object], field: str) -> None:
    response = fresh_api.client("admin").patch("/settings", json=body)
    after = fresh_api.client("admin").get("/settings").json()

    assert response.status_code == 422
    assert error_of(response)["field"] == field
    assert after["auto_close_hours"] == DEFAULT_AUTO_CLOSE_HOURS


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_settings_update_needs_admin(api: ApiWorkspace, role: str) -> None:
    response = api.client(role).patch("/settings", json={"auto_close_hours": 5})

    assert response.status_code == 403


def test_settings_customer_cannot_read(api: ApiWorkspace) -> None:
    assert api.client("customer").get("/settings").status_code == 403


def test_settings_per_tenant(fresh_api: ApiWorkspace, other_api: ApiWorkspace) -> None:
    fresh_api.client("admin").patch("/settings", json={"auto_close_hours": 12})

    assert other_api.client("admin").get("/settings").json()["auto_close_hours"] == (
        DEFAULT_AUTO_CLOSE_HOURS)
