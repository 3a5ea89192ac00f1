"""The ticket list's team and assignee filters that the queue window's views use:
`assignee=none`, several teams at once and `team=mine`, with correct pagination."""

from __future__ import annotations

import pytest

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, add_team, create_ticket, error_of
from tests.support import Factory


def place(workspace: ApiWorkspace, number: int, **fields: object) -> None:
    """Set ticket fields as an agent would."""
    agent = workspace.client("agent")
    version = agent.get(f"/tickets/{number}").json()["version"]
    response = agent.patch(f"/tickets/{number}", json={**fields, "version": version})
    assert response.status_code == 200, response.text


def numbers(workspace: ApiWorkspace, role: str = "agent", **params: str) -> list[int]:
    response = workspace.client(role).get("/tickets", params={"sort": "number", **params})
    assert response.status_code == 200, response.text
    return [item["number"] for item in response.json()["items"]]


def test_listing_unassigned(fresh_api: ApiWorkspace) -> None:
    tickets = [create_ticket(fresh_api.client("customer"))["number"] for _ in range(3)]
    place(fresh_api, tickets[1], assignee_id=fresh_api.user_id("agent2"))

    assert numbers(fresh_api, assignee="none") == [tickets[2], tickets[0]]


def test_listing_several_teams(fresh_api: ApiWorkspace, factory: Factory) -> None:
    teams = [add_team(factory, fresh_api.tenant, f"Team {index}", []) for index in range(3)]
    tickets = [create_ticket(fresh_api.client("customer"))["number"] for _ in range(4)]
    for ticket, team in zip(tickets, teams, strict=False):
        place(fresh_api, ticket, team_id=team)

    both = numbers(fresh_api, team=f"{teams[0]},{teams[2]}")
    one = numbers(fresh_api, team=str(teams[1]))

    assert both == [tickets[2], tickets[0]]
    assert one == [tickets[1]]


def test_listing_my_teams(fresh_api: ApiWorkspace, factory: Factory) -> None:
    mine = add_team(factory, fresh_api.tenant, "Mine", [fresh_api.user_id("agent")])
    theirs = add_team(factory, fresh_api.tenant, "Theirs", [fresh_api.user_id("agent2")])
    tickets = [create_ticket(fresh_api.client("customer"))["number"] for _ in range(3)]
    place(fresh_api, tickets[0], team_id=mine)
    place(fresh_api, tickets[1], team_id=theirs)

    assert numbers(fresh_api, team="mine") == [tickets[0]]
    assert numbers(fresh_api, "agent2", team="mine") == [tickets[1]]
    assert numbers(fresh_api, "admin", team="mine") == []
    assert numbers(fresh_api, team=f"mine,{theirs}") == [tickets[1], tickets[0]]


def test_listing_my_unassigned_open(fresh_api: ApiWorkspace, factory: Factory) -> None:
    mine = add_team(factory, fresh_api.tenant, "Mine", [fresh_api.user_id("agent")])
    tickets = [create_ticket(fresh_api.client("customer"))["number"] for _ in range(3)]
    for ticket in tickets:
        place(fresh_api, ticket, team_id=mine)
    place(fresh_api, tickets[0], assignee_id=fresh_api.user_id("agent"))
    place(fresh_api, tickets[1], status="solved")

    assert numbers(fresh_api, team="mine", assignee="none", status="new,open") == [tickets[2]]


def test_listing_unassigned_pages(fresh_api: ApiWorkspace) -> None:
    tickets = [create_ticket(fresh_api.client("customer"))["number"] for _ in range(7)]
    for ticket in tickets[::2]:
        place(fresh_api, ticket, assignee_id=fresh_api.user_id("agent"))
    agent = fresh_api.client("agent")
    pages = []
    response = agent.get("/tickets", params={"assignee": "none", "per_page": "2",
                                             "sort": "number", "order": "asc"}).json()
    pages.append([item["number"] for item in response["items"]])
    while response["next"]:
        response = agent.get(response["next"]).json()
        pages.append([item["number"] for item in response["items"]])

    assert pages == [[tickets[1], tickets[3]], [tickets[5]]]


@pytest.mark.parametrize(("params", "field"), [
    ({"team": "abc"}, "team"),
    ({"team": "1,,2"}, "team"),
    ({"team": "0"}, "team"),
    ({"team": "ours"}, "team"),
    ({"team": ",".join(["1"] * 51)}, "team"),
    ({"assignee": "nobody"}, "assignee"),
])
def test_listing_invalid_filters(api: ApiWorkspace, params: dict[str, str], field: str) -> None:
    response = api.client("agent").get("/tickets", params=params)

    assert response.status_code == 422
    assert error_of(response)["field"] == field


@pytest.mark.parametrize("params", [{"team": "mine"}, {"assignee": "none"}])
def test_listing_filters_forbidden_to_customers(api: ApiWorkspace,
                                                params: dict[str, str]) -> None:
    response = api.client("customer").get("/tickets", params=params)

    assert response.status_code == 403


def test_listing_other_tenant_team_matches_nothing(fresh_api: ApiWorkspace,
                                                   other_api: ApiWorkspace,
                                                   factory: Factory) -> None:
    theirs = add_team(factory, other_api.tenant, "Theirs", [])
    create_ticket(fresh_api.client("customer"))

    assert numbers(fresh_api, team=str(theirs)) == []
