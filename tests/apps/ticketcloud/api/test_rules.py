"""Assignment rules through the REST API: admins only, per tenant, with dry runs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, add_team, error_of
from tests.support import Factory


def rule(name: str, word: str, **action: Any) -> dict[str, Any]:
    return {"name": name, "match": "any",
            "conditions": [{"field": "subject", "operator": "contains", "value": word}],
            "actions": [action or {"type": "add_tags", "value": [word]}]}


def test_rules_create_get_replace_delete(fresh_api: ApiWorkspace) -> None:
    admin = fresh_api.client("admin")
    created = admin.post("/rules", json=rule("Refunds", "refund"))
    rule_id = created.json()["id"]
    loaded = admin.get(f"/rules/{rule_id}")
    replaced = admin.put(f"/rules/{rule_id}", json=rule("Refunds v2", "money"))
    deleted = admin.delete(f"/rules/{rule_id}")
    after = admin.get(f"/rules/{rule_id}")

    assert created.status_code == 201
    assert created.headers["location"].endswith(f"/rules/{rule_id}")
    assert loaded.json()["name"] == "Refunds"
    assert loaded.json()["conditions"][0]["value"] == "refund"
    assert replaced.json()["name"] == "Refunds v2"
    assert replaced.json()["position"] == 0
    assert deleted.status_code == 204
    assert after.status_code == 404


def test_rules_reorder(fresh_api: ApiWorkspace) -> None:
    admin = fresh_api.client("admin")
    ids = [admin.post("/rules", json=rule(f"Rule {index}", f"word{index}")).json()["id"]
           for index in range(3)]
    moved = admin.post("/rules/reorder", json={"rule_id": ids[2], "position": 0})
    listed = admin.get("/rules").json()["items"]
    invalid = admin.post("/rules/reorder", json={"rule_id": ids[0], "position": 3})

    assert [item["id"] for item in moved.json()["items"]] == [ids[2], ids[0], ids[1]]
    assert [(item["id"], item["position"]) for item in listed] == [
        (ids[2], 0), (ids[0], 1), (ids[1], 2)]
    assert invalid.status_code == 422
    assert error_of(invalid)["field"] == "position"


def test_rules_dry_run(fresh_api: ApiWorkspace, factory: Factory) -> None:
    team_id = add_team(factory, fresh_api.tenant, "Billing", [fresh_api.user_id("agent")])
    admin = fresh_api.client("admin")
    admin.post("/rules", json=rule("Billing", "invoice", type="set_team", value=team_id))
    admin.post("/rules", json=rule("Tags", "invoice"))
    admin.post("/rules", json=rule("Never", "zebra", type="set_priority", value="urgent"))

    response = admin.post("/rules/dry-run", json={
        "subject": "Invoice 42", "body": "Please fix", "sender_email": "a@example.com"})
    tickets = fresh_api.client("agent").get("/tickets").json()["items"]

    assert response.status_code == 200, response.text
    assert [item["name"] for item in response.json()["fired"]] == ["Billing", "Tags"]
    assert response.json()["result"]["team_id"] == team_id
    assert response.json()["result"]["tags"] == ["invoice"]
    assert response.json()["result"]["priority"] is None
    assert tickets == []


def test_rules_dry_run_unknown_field(api: ApiWorkspace) -> None:
    response = api.client("admin").post("/rules/dry-run", json={
        "sender_email": "a@example.com", "sender": "b@example.com"})

    assert response.status_code == 422
    assert error_of(response)["field"] == "sender"


def test_rules_invalid_regex(api: ApiWorkspace) -> None:
    data = {"name": "Broken", "conditions": [
        {"field": "subject", "operator": "contains", "value": "ok"},
        {"field": "body", "operator": "regex", "value": "(unclosed"}],
        "actions": [{"type": "add_tags", "value": ["x"]}]}
    response = api.client("admin").post("/rules", json=data)

    assert response.status_code == 422
    assert error_of(response)["field"] == "conditions[1].value"
    assert "invalid regex" in error_of(response)["message"]
    assert "missing )" in error_of(response)["message"]


@pytest.mark.parametrize(("data", "field"), [
    ({"name": "X", "conditions": [], "actions": [{"type": "stop"}]}, "conditions"),
    ({**rule("X", "y"), "priority": 1}, "priority"),
    ({**rule("X", "y", type="set_team", value=999999)}, "actions[0].value"),
])
def test_rules_invalid_definition(api: ApiWorkspace, data: dict[str, Any],
                                  field: str) -> None:
    response = api.client("admin").post("/rules", json=data)

    assert response.status_code in (404, 422)
    assert error_of(response)["field"] == field


@pytest.mark.parametrize("role", ["agent", "customer"])
@pytest.mark.parametrize(("method", "path", "payload"), [
    ("GET", "/rules", None),
    ("POST", "/rules", rule("X", "y")),
    ("GET", "/rules/1", None),
    ("PUT", "/rules/1", rule("X", "y")),
    ("DELETE", "/rules/1", None),
    ("POST", "/rules/reorder", {"rule_id": 1, "position": 0}),
    ("POST", "/rules/dry-run", {"sender_email": "a@example.com"}),
])
def test_rules_admin_only(api: ApiWorkspace, role: str, method: str, path: str,
                          payload: dict[str, Any] | None) -> None:
    response = api.client(role).request(method, path, json=payload)

    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"


def test_rules_other_tenant_not_found(api: ApiWorkspace, other_api: ApiWorkspace) -> None:
    rule_id = api.client("admin").post("/rules", json=rule("Ours", "ours")).json()["id"]
    other = other_api.client("admin")

    assert other.get(f"/rules/{rule_id}").status_code == 404
    assert other.put(f"/rules/{rule_id}", json=rule("Taken", "x")).status_code == 404
    assert other.delete(f"/rules/{rule_id}").status_code == 404
    assert other.post("/rules/reorder", json={"rule_id": rule_id, "position": 0}
                      ).status_code == 404
    assert all(item["id"] != rule_id for item in other.get("/rules").json()["items"])
    assert api.client("admin").get(f"/rules/{rule_id}").json()["name"] == "Ours"
