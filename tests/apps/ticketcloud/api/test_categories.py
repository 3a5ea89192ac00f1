"""Categories through the REST API: admins create, rename and delete them, a category
still on a ticket is kept, and another workspace's ids are not found."""

from __future__ import annotations

import pytest

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, create_ticket, error_of


def create_category(workspace: ApiWorkspace, name: str) -> int:
    response = workspace.client("admin").post("/categories", json={"name": name})
    assert response.status_code == 201, response.text
    category_id: int = response.json()["id"]
    return category_id


def test_categories_create_rename_delete(fresh_api: ApiWorkspace) -> None:
    admin = fresh_api.client("admin")
    created = admin.post("/categories", json={"name": "Billing"})
    category_id = created.json()["id"]
    renamed = admin.patch(f"/categories/{category_id}", json={"name": "Invoices"})
    listed = fresh_api.client("agent").get("/categories").json()["items"]
    deleted = admin.delete(f"/categories/{category_id}")
    after = fresh_api.client("agent").get("/categories").json()["items"]

    assert created.status_code == 201
    assert created.headers["location"].endswith(f"/categories/{category_id}")
    assert created.json() == {"id": category_id, "name": "Billing"}
    assert renamed.json() == {"id": category_id, "name": "Invoices"}
    assert listed == [{"id": category_id, "name": "Invoices"}]
    assert deleted.status_code == 204
    assert after == []


def test_categories_delete_in_use_conflict(fresh_api: ApiWorkspace) -> None:
    category_id = create_category(fresh_api, "Billing")
    create_ticket(fresh_api.client("customer"), category_id=category_id)
    response = fresh_api.client("admin").delete(f"/categories/{category_id}")
    listed = fresh_api.client("agent").get("/categories").json()["items"]

    assert response.status_code == 409
    assert error_of(response)["code"] == "category_in_use"
    assert [item["id"] for item in listed] == [category_id]


def test_categories_delete_named_by_rule_and_policy(fresh_api: ApiWorkspace) -> None:
    """A rule or SLA policy that names the category by id keeps it: on SQLite a later
    category may get the same id."""
    admin = fresh_api.client("admin")
    category_id = create_category(fresh_api, "Billing")
    admin.post("/rules", json={
        "name": "Invoices", "conditions": [{"field": "subject", "operator": "contains",
                                            "value": "invoice"}],
        "actions": [{"type": "set_category", "value": category_id}]})
    admin.post("/sla/policies", json={"name": "Billing SLA", "first_response_minutes": 60,
                                      "conditions": {"category_ids": [category_id]}})

    response = admin.delete(f"/categories/{category_id}")

    assert response.status_code == 409
    assert error_of(response)["code"] == "category_in_use"
    assert error_of(response)["message"] == (
        "Category 'Billing' is named by rule 'Invoices', SLA policy 'Billing SLA'; change "
        "or delete those first.")


def test_categories_duplicate_name_conflict(fresh_api: ApiWorkspace) -> None:
    create_category(fresh_api, "Billing")
    other = create_category(fresh_api, "Technical")
    created = fresh_api.client("admin").post("/categories", json={"name": "Billing"})
    renamed = fresh_api.client("admin").patch(f"/categories/{other}", json={"name": "Billing"})

    assert created.status_code == 409
    assert error_of(created)["field"] == "name"
    assert renamed.status_code == 409
    assert error_of(renamed)["field"] == "name"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"),
    ({"name": "  "}, "name"),
    ({"name": ["Billing"]}, "name"),
    ({"name": "Billing", "team_id": 1}, "team_id"),
])
def test_categories_invalid(api: ApiWorkspace, body: dict[str, object], field: str) -> None:
    category_id = create_category(api, f"Invalid {sorted(body.items())!r}"[:100])
    created = api.client("admin").post("/categories", json=body)
    renamed = api.client("admin").patch(f"/categories/{category_id}", json=body)

    assert created.status_code == 422
    assert error_of(created)["field"] == field
    assert renamed.status_code == 422
    assert error_of(renamed)["field"] == field


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_categories_changes_need_admin(api: ApiWorkspace, role: str) -> None:
    category_id = create_category(api, f"Admins only {role}")
    client = api.client(role)
    attempts = [
        client.post("/categories", json={"name": "Mine"}),
        client.patch(f"/categories/{category_id}", json={"name": "Mine"}),
        client.delete(f"/categories/{category_id}"),
    ]

    assert [response.status_code for response in attempts] == [403, 403, 403]


def test_categories_other_tenant_not_found(api: ApiWorkspace, other_api: ApiWorkspace) -> None:
    category_id = create_category(other_api, "Theirs")
    admin = api.client("admin")
    renamed = admin.patch(f"/categories/{category_id}", json={"name": "Stolen"})
    deleted = admin.delete(f"/categories/{category_id}")
    theirs = other_api.client("agent").get("/categories").json()["items"]

    assert renamed.status_code == 404
    assert deleted.status_code == 404
    assert {"id": category_id, "name": "Theirs"} in theirs
