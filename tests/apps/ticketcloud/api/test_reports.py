"""The ratings breakdown through the REST API: per agent and team, the count, average,
scores 1 to 5 and the newest comments, within the caller's workspace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, add_team, create_ticket, error_of
from tests.support import Factory, stored_time
from ticketcloud.reports import RECENT_COMMENTS


def store_rating(factory: Factory, workspace: ApiWorkspace, number: int, *, score: int,
                 comment: str, agent_id: int | None, team_id: int | None, minute: int) -> None:
    """Store a rating row as the public rating page does, `minute` minutes into the day."""
    factory.execute(
        "INSERT INTO ticketcloud_rating (tenant_id, ticket_id, score, comment, agent_id, "
        "team_id, created_at) SELECT tenant_id, id, :score, :comment, :agent, :team, :time "
        "FROM ticketcloud_ticket WHERE tenant_id = :tenant AND number = :number",
        score=score, comment=comment, agent=agent_id, team=team_id,
        time=stored_time(datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)),
        tenant=workspace.tenant.id, number=number)


def test_breakdown_per_agent_and_team(fresh_api: ApiWorkspace, factory: Factory) -> None:
    agent, agent2 = fresh_api.user_id("agent"), fresh_api.user_id("agent2")
    team_id = add_team(factory, fresh_api.tenant, "Support", [agent, agent2])
    ratings = [(5, "Great <b>help</b>", agent), (4, "", agent), (1, "Slow", agent2),
               (5, "", None)]
    for minute, (score, comment, agent_id) in enumerate(ratings):
        number = create_ticket(fresh_api.client("customer"))["number"]
        store_rating(factory, fresh_api, number, score=score, comment=comment,
                     agent_id=agent_id, team_id=team_id, minute=minute)

    response = fresh_api.client("agent").get("/ratings/breakdown")
    agents = {item["id"]: item for item in response.json()["agents"]}
    team = response.json()["teams"][0]

    assert response.status_code == 200
    assert sorted(agents) == sorted([agent, agent2])
    assert agents[agent]["count"] == 2
    assert agents[agent]["average"] == 4.5
    assert agents[agent]["distribution"] == {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1}
    assert [item["comment"] for item in agents[agent]["recent"]] == ["Great <b>help</b>"]
    assert agents[agent2]["distribution"]["1"] == 1
    assert team["id"] == team_id
    assert team["count"] == 4
    assert team["average"] == 3.75
    assert [item["comment"] for item in team["recent"]] == ["Slow", "Great <b>help</b>"]
    assert team["recent"][0]["score"] == 1


def test_breakdown_recent_comments_capped(fresh_api: ApiWorkspace, factory: Factory) -> None:
    agent = fresh_api.user_id("agent")
    for minute in range(RECENT_COMMENTS + 2):
        number = create_ticket(fresh_api.client("customer"))["number"]
        store_rating(factory, fresh_api, number, score=3, comment=f"Comment {minute}",
                     agent_id=agent, team_id=None, minute=minute)

    report = fresh_api.client("admin").get("/ratings/breakdown").json()
    recent = report["agents"][0]["recent"]

    assert report["agents"][0]["count"] == RECENT_COMMENTS + 2
    assert len(recent) == RECENT_COMMENTS
    assert recent[0]["comment"] == f"Comment {RECENT_COMMENTS + 1}"
    assert report["teams"] == []


def test_breakdown_other_tenant_empty(fresh_api: ApiWorkspace, other_api: ApiWorkspace,
                                      factory: Factory) -> None:
    number = create_ticket(fresh_api.client("customer"))["number"]
    store_rating(factory, fresh_api, number, score=2, comment="Meh",
                 agent_id=fresh_api.user_id("agent"), team_id=None, minute=0)

    other = other_api.client("admin").get("/ratings/breakdown").json()

    assert other == {"agents": [], "teams": []}


def test_breakdown_customer_forbidden(api: ApiWorkspace) -> None:
    response = api.client("customer").get("/ratings/breakdown")

    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
