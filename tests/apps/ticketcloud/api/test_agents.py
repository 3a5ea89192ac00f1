"""Agents' away flags through the REST API: an agent sets their own, an admin anyone's
in the workspace, and team assignment skips an agent who is away."""

from __future__ import annotations

import pytest

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, create_ticket, error_of


def away_flags(workspace: ApiWorkspace) -> dict[int, bool]:
    items = workspace.client("agent").get("/agents").json()["items"]
    return {item["id"]: item["away"] for item in items}


def test_agents_set_own_away(fresh_api: ApiWorkspace) -> None:
    agent = fresh_api.user_id("agent")
    away = fresh_api.client("agent").patch(f"/agents/{agent}", json={"away": True})
    flags = away_flags(fresh_api)
    back = fresh_api.client("agent").patch(f"/agents/{agent}", json={"away": False})

    assert away.status_code == 200
    assert away.json() == {"id": agent, "name": "Agent", "away": True}
    assert flags[agent] is True
    assert flags[fresh_api.user_id("agent2")] is False
    assert back.json()["away"] is False


def test_agents_admin_sets_anyone_away(fresh_api: ApiWorkspace) -> None:
    agent2 = fresh_api.user_id("agent2")
    response = fresh_api.client("admin").patch(f"/agents/{agent2}", json={"away": True})

    assert response.status_code == 200
    assert away_flags(fresh_api)[agent2] is True


def test_agents_agent_cannot_set_other(fresh_api: ApiWorkspace) -> None:
    response = fresh_api.client("agent").patch(
        f"/agents/{fresh_api.user_id('agent2')}", json={"away": True})

    assert response.status_code == 403
    assert away_flags(fresh_api)[fresh_api.user_id("agent2")] is False


def test_agents_customer_forbidden(api: ApiWorkspace) -> None:
    customer = api.user_id("customer")
    response = api.client("customer").patch(f"/agents/{customer}", json={"away": True})

    assert response.status_code == 403


def test_agents_customer_cannot_be_away(api: ApiWorkspace) -> None:
    response = api.client("admin").patch(f"/agents/{api.user_id('customer')}",
                                         json={"away": True})

    assert response.status_code == 422
    assert error_of(response)["field"] == "user_id"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "away"), ({"away": "yes"}, "away"), ({"away": None}, "away"),
    ({"away": True, "until": "monday"}, "until"),
])
def test_agents_invalid_body(api: ApiWorkspace, body: dict[str, object], field: str) -> None:
    response = api.client("agent").patch(f"/agents/{api.user_id('agent')}", json=body)

    assert response.status_code == 422
    assert error_of(response)["field"] == field


def test_agents_other_tenant_not_found(api: ApiWorkspace, other_api: ApiWorkspace) -> None:
    other_agent = other_api.user_id("agent")
    response = api.client("admin").patch(f"/agents/{other_agent}", json={"away": True})

    assert response.status_code == 404
    assert away_flags(other_api)[other_agent] is False


def test_agents_away_skipped_by_assignment(fresh_api: ApiWorkspace) -> None:
    admin = fresh_api.client("admin")
    agent, agent2 = fresh_api.user_id("agent"), fresh_api.user_id("agent2")
    team_id = admin.post("/teams", json={"name": "Support"}).json()["id"]
    for user_id in (agent, agent2):
        admin.post(f"/teams/{team_id}/members", json={"user_id": user_id})
    admin.post("/rules", json={
        "name": "Help to support", "conditions": [
            {"field": "subject", "operator": "contains", "value": "help"}],
        "actions": [{"type": "set_team", "value": team_id}]})
    fresh_api.client("agent").patch(f"/agents/{agent}", json={"away": True})

    numbers = [create_ticket(fresh_api.client("customer"), subject=f"help {index}")["number"]
               for index in range(3)]
    assignees = {fresh_api.client("admin").get(f"/tickets/{number}").json()["assignee_id"]
                 for number in numbers}

    assert assignees == {agent2}
