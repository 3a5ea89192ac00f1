"""Teams and their members through the REST API: admins change them, agents read them,
customers get 403, and another workspace's ids are not found."""

from __future__ import annotations

import pytest

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, create_ticket, error_of


def create_team(workspace: ApiWorkspace, name: str, **fields: object) -> int:
    response = workspace.client("admin").post("/teams", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    team_id: int = response.json()["id"]
    return team_id


def test_teams_create_rename_strategy_delete(fresh_api: ApiWorkspace) -> None:
    admin = fresh_api.client("admin")
    created = admin.post("/teams", json={"name": "Support", "strategy": "least_open"})
    team_id = created.json()["id"]
    renamed = admin.patch(f"/teams/{team_id}", json={"name": "Level 1"})
    changed = admin.patch(f"/teams/{team_id}", json={"strategy": "round_robin"})
    listed = fresh_api.client("agent").get("/teams").json()["items"]
    deleted = admin.delete(f"/teams/{team_id}")
    after = admin.get(f"/teams/{team_id}")

    assert created.status_code == 201
    assert created.headers["location"].endswith(f"/teams/{team_id}")
    assert created.json() == {"id": team_id, "name": "Support", "strategy": "least_open",
                              "members": []}
    assert renamed.json()["name"] == "Level 1"
    assert renamed.json()["strategy"] == "least_open"
    assert changed.json()["strategy"] == "round_robin"
    assert [item["name"] for item in listed] == ["Level 1"]
    assert deleted.status_code == 204
    assert after.status_code == 404


def test_teams_members_and_leads(fresh_api: ApiWorkspace) -> None:
    admin = fresh_api.client("admin")
    team_id = create_team(fresh_api, "Support")
    agent, agent2 = fresh_api.user_id("agent"), fresh_api.user_id("agent2")
    admin.post(f"/teams/{team_id}/members", json={"user_id": agent})
    added = admin.post(f"/teams/{team_id}/members", json={"user_id": agent2, "is_lead": True})
    demoted = admin.patch(f"/teams/{team_id}/members/{agent2}", json={"is_lead": False})
    promoted = admin.patch(f"/teams/{team_id}/members/{agent}", json={"is_lead": True})
    listed = fresh_api.client("agent").get("/teams").json()["items"]
    removed = admin.delete(f"/teams/{team_id}/members/{agent2}")
    detail = fresh_api.client("agent").get(f"/teams/{team_id}").json()

    assert added.status_code == 201
    assert added.json()["members"] == [
        {"user_id": agent, "name": "Agent", "is_lead": False, "away": False},
        {"user_id": agent2, "name": "Agent2", "is_lead": True, "away": False}]
    assert [member["is_lead"] for member in demoted.json()["members"]] == [False, False]
    assert [member["is_lead"] for member in promoted.json()["members"]] == [True, False]
    assert listed[0]["member_ids"] == [agent, agent2]
    assert listed[0]["lead_ids"] == [agent]
    assert removed.status_code == 204
    assert [member["user_id"] for member in detail["members"]] == [agent]


def test_teams_member_twice_conflict(fresh_api: ApiWorkspace) -> None:
    team_id = create_team(fresh_api, "Support")
    admin = fresh_api.client("admin")
    admin.post(f"/teams/{team_id}/members", json={"user_id": fresh_api.user_id("agent")})
    again = admin.post(f"/teams/{team_id}/members", json={"user_id": fresh_api.user_id("agent")})

    assert again.status_code == 409
    assert error_of(again)["field"] == "user_id"


def test_teams_customer_cannot_be_member(fresh_api: ApiWorkspace) -> None:
    team_id = create_team(fresh_api, "Support")
    response = fresh_api.client("admin").post(
        f"/teams/{team_id}/members", json={"user_id": fresh_api.user_id("customer")})

    assert response.status_code == 422
    assert error_of(response)["field"] == "user_id"


def test_teams_remove_non_member_not_found(fresh_api: ApiWorkspace) -> None:
    team_id = create_team(fresh_api, "Support")
    response = fresh_api.client("admin").delete(
        f"/teams/{team_id}/members/{fresh_api.user_id('agent')}")

    assert response.status_code == 404
    assert error_of(response)["field"] == "user_id"


def test_ticket_other_workspace_team_not_found(fresh_api: ApiWorkspace,
                                               other_api: ApiWorkspace) -> None:
    # other_api is shared by the module's tests, so the name is this test's own.
    theirs = create_team(other_api, "Theirs for tickets")
    number = create_ticket(fresh_api.client("customer"))["number"]
    agent = fresh_api.client("agent")
    version = agent.get(f"/tickets/{number}").json()["version"]

    response = agent.patch(f"/tickets/{number}", json={"team_id": theirs, "version": version})

    assert response.status_code == 404
    assert error_of(response)["field"] == "team_id"
    assert agent.get(f"/tickets/{number}").json()["team_id"] is None


def test_teams_duplicate_name_conflict(fresh_api: ApiWorkspace) -> None:
    create_team(fresh_api, "Support")
    other = create_team(fresh_api, "Billing")
    created = fresh_api.client("admin").post("/teams", json={"name": "Support"})
    renamed = fresh_api.client("admin").patch(f"/teams/{other}", json={"name": "Support"})

    assert created.status_code == 409
    assert error_of(created)["field"] == "name"
    assert renamed.status_code == 409
    assert error_of(renamed)["field"] == "name"


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"name": 7}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "Ok", "strategy": "random"}, "strategy"),
    ({"name": "Ok", "colour": "red"}, "colour"),
    ({"strategy": "least_open"}, "name"),
])
def test_teams_create_invalid(api: ApiWorkspace, body: dict[str, object], field: str) -> None:
    response = api.client("admin").post("/teams", json=body)

    assert response.status_code == 422
    assert error_of(response)["field"] == field


@pytest.mark.parametrize(("body", "field"), [
    ({"name": None}, "name"),
    ({"strategy": "fastest"}, "strategy"),
    ({"is_lead": True}, "is_lead"),
])
def test_teams_update_invalid(api: ApiWorkspace, body: dict[str, object], field: str) -> None:
    team_id = create_team(api, f"Update invalid {field}")
    response = api.client("admin").patch(f"/teams/{team_id}", json=body)

    assert response.status_code == 422
    assert error_of(response)["field"] == field


def test_teams_lead_flag_must_be_boolean(fresh_api: ApiWorkspace) -> None:
    team_id = create_team(fresh_api, "Support")
    agent = fresh_api.user_id("agent")
    admin = fresh_api.client("admin")
    added = admin.post(f"/teams/{team_id}/members", json={"user_id": agent, "is_lead": "yes"})
    admin.post(f"/teams/{team_id}/members", json={"user_id": agent})
    changed = admin.patch(f"/teams/{team_id}/members/{agent}", json={"is_lead": 1})

    assert added.status_code == 422
    assert error_of(added)["field"] == "is_lead"
    assert changed.status_code == 422
    assert error_of(changed)["field"] == "is_lead"


def test_teams_delete_in_use_conflict(fresh_api: ApiWorkspace) -> None:
    team_id = create_team(fresh_api, "Support")
    number = create_ticket(fresh_api.client("customer"))["number"]
    version = fresh_api.client("agent").get(f"/tickets/{number}").json()["version"]
    fresh_api.client("agent").patch(f"/tickets/{number}",
                                    json={"team_id": team_id, "version": version})
    response = fresh_api.client("admin").delete(f"/teams/{team_id}")
    still = fresh_api.client("admin").get(f"/teams/{team_id}")

    assert response.status_code == 409
    assert error_of(response)["code"] == "team_in_use"
    assert "1 tickets" in error_of(response)["message"]
    assert still.status_code == 200


def test_teams_delete_with_members(fresh_api: ApiWorkspace) -> None:
    admin = fresh_api.client("admin")
    team_id = create_team(fresh_api, "Support")
    admin.post(f"/teams/{team_id}/members", json={"user_id": fresh_api.user_id("agent")})

    deleted = admin.delete(f"/teams/{team_id}")

    assert deleted.status_code == 204
    assert admin.get(f"/teams/{team_id}").status_code == 404


def test_teams_delete_set_by_rule_conflict(fresh_api: ApiWorkspace) -> None:
    """A rule that sets the team keeps it: on SQLite the next team could reuse the id,
    and the rule would route there."""
    admin = fresh_api.client("admin")
    team_id = create_team(fresh_api, "Billing")
    admin.post("/rules", json={
        "name": "Invoices", "conditions": [{"field": "subject", "operator": "contains",
                                            "value": "invoice"}],
        "actions": [{"type": "set_team", "value": team_id}]})

    response = admin.delete(f"/teams/{team_id}")

    assert response.status_code == 409
    assert error_of(response)["code"] == "team_in_use"
    assert "rule 'Invoices'" in error_of(response)["message"]
    assert admin.get(f"/teams/{team_id}").status_code == 200


def test_teams_delete_named_by_sla_policy(fresh_api: ApiWorkspace) -> None:
    admin = fresh_api.client("admin")
    team_id = create_team(fresh_api, "Care")
    escalate_to = create_team(fresh_api, "Escalations")
    admin.post("/sla/policies", json={"name": "Care SLA", "first_response_minutes": 60,
                                      "conditions": {"team_ids": [team_id]}})
    admin.post("/sla/policies", json={
        "name": "Escalate", "first_response_minutes": 30,
        "escalation": [{"action": "reassign", "team_id": escalate_to}]})

    responses = [admin.delete(f"/teams/{team_id}"), admin.delete(f"/teams/{escalate_to}")]

    assert [response.status_code for response in responses] == [409, 409]
    assert "SLA policy 'Care SLA'" in error_of(responses[0])["message"]
    assert "SLA policy 'Escalate'" in error_of(responses[1])["message"]


@pytest.mark.parametrize("team_id", [2**63, 10**20])
def test_teams_id_too_big_invalid(api: ApiWorkspace, team_id: int) -> None:
    response = api.client("admin").post("/rules", json={
        "name": "Huge", "conditions": [{"field": "subject", "operator": "contains",
                                        "value": "x"}],
        "actions": [{"type": "set_team", "value": team_id}]})

    assert response.status_code == 422
    assert "expected a positive integer id" in error_of(response)["message"]


def test_teams_agent_reads_but_cannot_change(api: ApiWorkspace) -> None:
    team_id = create_team(api, "Agents read")
    agent = api.client("agent")
    read = agent.get(f"/teams/{team_id}")
    attempts = [
        agent.post("/teams", json={"name": "Mine"}),
        agent.patch(f"/teams/{team_id}", json={"name": "Mine"}),
        agent.delete(f"/teams/{team_id}"),
        agent.post(f"/teams/{team_id}/members", json={"user_id": api.user_id("agent")}),
        agent.patch(f"/teams/{team_id}/members/{api.user_id('agent')}", json={"is_lead": True}),
        agent.delete(f"/teams/{team_id}/members/{api.user_id('agent')}"),
    ]

    assert read.status_code == 200
    assert [response.status_code for response in attempts] == [403] * len(attempts)


def test_teams_customer_forbidden(api: ApiWorkspace) -> None:
    team_id = create_team(api, "Customers no")
    customer = api.client("customer")
    attempts = [
        customer.get(f"/teams/{team_id}"),
        customer.post("/teams", json={"name": "Mine"}),
        customer.patch(f"/teams/{team_id}", json={"name": "Mine"}),
        customer.delete(f"/teams/{team_id}"),
    ]

    assert [response.status_code for response in attempts] == [403] * len(attempts)


def test_teams_other_tenant_not_found(api: ApiWorkspace, other_api: ApiWorkspace) -> None:
    team_id = create_team(other_api, "Theirs")
    other_agent = other_api.user_id("agent")
    own_team = create_team(api, "Ours for isolation")
    admin = api.client("admin")
    attempts = [
        admin.get(f"/teams/{team_id}"),
        admin.patch(f"/teams/{team_id}", json={"name": "Stolen"}),
        admin.delete(f"/teams/{team_id}"),
        admin.post(f"/teams/{team_id}/members", json={"user_id": api.user_id("agent")}),
        admin.post(f"/teams/{own_team}/members", json={"user_id": other_agent}),
        admin.patch(f"/teams/{team_id}/members/{other_agent}", json={"is_lead": True}),
        admin.delete(f"/teams/{team_id}/members/{other_agent}"),
    ]
    theirs = other_api.client("admin").get(f"/teams/{team_id}").json()

    assert [response.status_code for response in attempts] == [404] * len(attempts)
    assert theirs["name"] == "Theirs"
