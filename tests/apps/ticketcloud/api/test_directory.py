"""Teams, categories, agents and the ratings report through the REST API."""

from __future__ import annotations

import pytest

from tests.apps.ticketcloud.api.conftest import (
    ApiWorkspace,
    add_category,
    add_team,
    create_ticket,
    error_of,
)
from tests.support import Factory

PATHS = ["/teams", "/categories", "/agents", "/ratings/report"]


@pytest.mark.parametrize("path", PATHS)
def test_directory_customer_forbidden(api: ApiWorkspace, path: str) -> None:
    response = api.client("customer").get(path)

    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"


def test_directory_lists_own_tenant(fresh_api: ApiWorkspace, other_api: ApiWorkspace,
                                    factory: Factory) -> None:
    team_id = add_team(factory, fresh_api.tenant, "Support", [fresh_api.user_id("agent")])
    category_id = add_category(factory, fresh_api.tenant, "Billing")

    teams = fresh_api.client("agent").get("/teams").json()["items"]
    categories = fresh_api.client("admin").get("/categories").json()["items"]
    agents = fresh_api.client("agent").get("/agents").json()["items"]
    other_teams = other_api.client("agent").get("/teams").json()["items"]

    assert teams == [{"id": team_id, "name": "Support", "strategy": "round_robin",
                      "member_ids": [fresh_api.user_id("agent")], "lead_ids": []}]
    assert categories == [{"id": category_id, "name": "Billing"}]
    assert sorted(agent["id"] for agent in agents) == sorted(
        fresh_api.user_id(role) for role in ("admin", "agent", "agent2"))
    assert all(agent["away"] is False for agent in agents)
    assert all(team["id"] != team_id for team in other_teams)


def test_ratings_report_per_agent_and_team(fresh_api: ApiWorkspace, other_api: ApiWorkspace,
                                           factory: Factory) -> None:
    team_id = add_team(factory, fresh_api.tenant, "Support", [fresh_api.user_id("agent")])
    agent_id = fresh_api.user_id("agent")
    for score in (5, 2):
        ticket = create_ticket(fresh_api.client("customer"))
        # The public rating page is not built yet, so the rating row is stored directly.
        factory.execute(
            "INSERT INTO ticketcloud_rating (tenant_id, ticket_id, score, comment, agent_id, "
            "team_id, created_at) SELECT tenant_id, id, :score, '', :agent, :team, "
            "CURRENT_TIMESTAMP FROM ticketcloud_ticket WHERE tenant_id = :tenant AND "
            "number = :number", score=score, agent=agent_id, team=team_id,
            tenant=fresh_api.tenant.id, number=ticket["number"])

    report = fresh_api.client("admin").get("/ratings/report").json()
    other_report = other_api.client("admin").get("/ratings/report").json()

    assert report["agents"] == [{"id": agent_id, "count": 2, "average": 3.5}]
    assert report["teams"] == [{"id": team_id, "count": 2, "average": 3.5}]
    assert other_report == {"agents": [], "teams": []}
