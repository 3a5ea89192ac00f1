"""The SLA views of the ticket API: the `sla` list filter, each item's `sla_due`, and the
SLA report, with role and tenant checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from portal.db import Database
from tests.apps.ticketcloud.api.conftest import (
    ApiWorkspace,
    add_team,
    create_ticket,
    error_of,
)
from tests.support import Factory
from ticketcloud.models import Channel, SlaTarget, TargetKind, TargetState, Ticket


def add_policy(api: ApiWorkspace, **fields: Any) -> dict[str, Any]:
    response = api.client("admin").post("/sla/policies", json={
        "name": "Everything", "first_response_minutes": 60, "resolution_minutes": 600,
        "warning_percent": 50, **fields})
    assert response.status_code == 201, response.text
    policy: dict[str, Any] = response.json()
    return policy


def move_clock(factory: Factory, api: ApiWorkspace, number: int, *, due_in: timedelta,
               warn_in: timedelta) -> None:
    """Set the due and warning times of a ticket's running targets relative to now, as
    if time had passed."""

    async def change(db: Database) -> None:
        now = datetime.now(UTC)
        async with db.transaction() as session:
            ticket_id = (await session.exec(select(Ticket.id).where(
                Ticket.tenant_id == api.tenant.id, Ticket.number == number))).one()
            await session.exec(update(SlaTarget)
                               .where(col(SlaTarget.ticket_id) == ticket_id,
                                      col(SlaTarget.state) == TargetState.RUNNING)
                               .values(due_at=now + due_in, warn_at=now + warn_in))

    factory._run(change)  # type: ignore[no-untyped-call]


def numbers(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return sorted(item["number"] for item in response.json()["items"])


def test_sla_filter_overdue_and_at_risk(fresh_api: ApiWorkspace, factory: Factory) -> None:
    add_policy(fresh_api)
    customer = fresh_api.client("customer")
    overdue = create_ticket(customer, subject="Overdue")["number"]
    at_risk = create_ticket(customer, subject="At risk")["number"]
    create_ticket(customer, subject="On time")
    move_clock(factory, fresh_api, overdue, due_in=timedelta(minutes=-5),
               warn_in=timedelta(minutes=-35))
    move_clock(factory, fresh_api, at_risk, due_in=timedelta(minutes=20),
               warn_in=timedelta(minutes=-10))
    agent = fresh_api.client("agent")

    assert numbers(agent.get("/tickets", params={"sla": "overdue"})) == [overdue]
    assert numbers(agent.get("/tickets", params={"sla": "at_risk"})) == [at_risk]
    assert len(numbers(agent.get("/tickets"))) == 3


def test_ticket_list_carries_next_due(fresh_api: ApiWorkspace) -> None:
    add_policy(fresh_api)
    number = create_ticket(fresh_api.client("customer"))["number"]

    items = fresh_api.client("agent").get("/tickets").json()["items"]
    due = items[0]["sla_due"]
    detail = fresh_api.client("agent").get(f"/tickets/{number}").json()
    first_response = next(target for target in detail["sla"]
                          if target["kind"] == "first_response")

    assert due["kind"] == "first_response"
    assert due["state"] == "running"
    assert due["due_at"] == first_response["due_at"]


def test_ticket_list_without_policy_has_no_due(fresh_api: ApiWorkspace) -> None:
    create_ticket(fresh_api.client("customer"))

    items = fresh_api.client("agent").get("/tickets").json()["items"]

    assert items[0]["sla_due"] is None


def test_customer_cannot_filter_by_sla(api: ApiWorkspace) -> None:
    response = api.client("customer").get("/tickets", params={"sla": "overdue"})

    assert response.status_code == 403
    assert error_of(response)["field"] == "sla"


def test_customer_list_has_no_sla_due(api: ApiWorkspace) -> None:
    create_ticket(api.client("customer"))

    items = api.client("customer").get("/tickets").json()["items"]

    assert "sla_due" not in items[0]


def test_sla_filter_rejects_unknown_value(api: ApiWorkspace) -> None:
    response = api.client("agent").get("/tickets", params={"sla": "late"})

    assert response.status_code == 422
    assert error_of(response)["field"] == "sla"


def test_sla_filter_keeps_tenants_apart(fresh_api: ApiWorkspace, other_api: ApiWorkspace,
                                        factory: Factory) -> None:
    add_policy(fresh_api)
    overdue = create_ticket(fresh_api.client("customer"))["number"]
    move_clock(factory, fresh_api, overdue, due_in=timedelta(minutes=-5),
               warn_in=timedelta(minutes=-35))

    assert numbers(other_api.client("agent").get("/tickets", params={"sla": "overdue"})) == []
    assert numbers(fresh_api.client("agent").get("/tickets",
                                                 params={"sla": "overdue"})) == [overdue]


# The report's known data set: per target its ticket's team and assignee (by role name),
# kind, state, business minutes consumed, and day of completion in March 2026 (None for a
# running target that passed its due time on 10 March).
REPORT_ROWS: list[tuple[bool, str | None, TargetKind, TargetState, int, int | None]] = [
    (True, "agent", TargetKind.FIRST_RESPONSE, TargetState.MET, 10, 2),
    (True, "agent", TargetKind.FIRST_RESPONSE, TargetState.MET, 30, 3),
    (True, "agent", TargetKind.FIRST_RESPONSE, TargetState.BREACHED, 90, 4),
    (True, "agent", TargetKind.RESOLUTION, TargetState.MET, 200, 5),
    (True, "agent2", TargetKind.RESOLUTION, TargetState.BREACHED, 700, 6),
    (True, "agent2", TargetKind.RESOLUTION, TargetState.RUNNING, 0, None),
    (False, None, TargetKind.FIRST_RESPONSE, TargetState.MET, 20, 7),
    # Outside the period: completed on 1 April.
    (True, "agent", TargetKind.FIRST_RESPONSE, TargetState.BREACHED, 500, 32),
]


def seed_report(factory: Factory, api: ApiWorkspace, team_id: int) -> None:
    march = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    async def seed(db: Database) -> None:
        async with db.transaction() as session:
            for index, (in_team, agent, kind, state, minutes, day) in enumerate(REPORT_ROWS):
                ticket = Ticket(tenant_id=api.tenant.id, number=1000 + index,
                                subject=f"Report {index}", requester_email="r@example.com",
                                channel=Channel.WEB, tags=[],
                                team_id=team_id if in_team else None,
                                assignee_id=api.user_id(agent) if agent else None)
                session.add(ticket)
                await session.flush()
                assert ticket.id is not None
                completed = march + timedelta(days=day - 1) if day is not None else None
                session.add(SlaTarget(
                    tenant_id=api.tenant.id, ticket_id=ticket.id, kind=kind, state=state,
                    target_minutes=60, warning_seconds=1800, consumed_seconds=minutes * 60,
                    started_at=march, completed_at=completed,
                    due_at=march + timedelta(days=9) if completed is None else None,
                    running_since=march if completed is None else None))

    factory._run(seed)  # type: ignore[no-untyped-call]


def test_sla_report_numbers(fresh_api: ApiWorkspace, factory: Factory) -> None:
    team_id = add_team(factory, fresh_api.tenant, "Support",
                       [fresh_api.user_id("agent"), fresh_api.user_id("agent2")])
    seed_report(factory, fresh_api, team_id)

    response = fresh_api.client("agent").get("/sla/report",
                                              params={"from": "2026-03-01", "to": "2026-03-31"})
    report = response.json()
    agents = {item["id"]: item for item in report["agents"]}
    first = agents[fresh_api.user_id("agent")]
    second = agents[fresh_api.user_id("agent2")]

    assert response.status_code == 200
    assert (report["from"], report["to"]) == ("2026-03-01", "2026-03-31")
    assert report["total"]["targets"] == 7
    assert report["total"]["met"] == 4
    assert report["total"]["met_share"] == pytest.approx(4 / 7, abs=1e-4)
    assert report["total"]["median_first_response_minutes"] == 25.0
    assert report["total"]["median_resolution_minutes"] == 450.0
    assert [item["id"] for item in report["teams"]] == [team_id]
    assert report["teams"][0]["targets"] == 6
    assert report["teams"][0]["met_share"] == 0.5
    assert first["median_first_response_minutes"] == 30.0
    assert first["met_share"] == 0.75
    assert second["missed"] == 2
    assert second["median_first_response_minutes"] is None
    assert second["median_resolution_minutes"] == 700.0


def test_sla_report_keeps_tenants_apart(fresh_api: ApiWorkspace, other_api: ApiWorkspace,
                                        factory: Factory) -> None:
    team_id = add_team(factory, fresh_api.tenant, "Support", [fresh_api.user_id("agent")])
    seed_report(factory, fresh_api, team_id)

    report = other_api.client("admin").get(
        "/sla/report", params={"from": "2026-03-01", "to": "2026-03-31"}).json()

    assert report["total"]["targets"] == 0
    assert report["agents"] == []


def test_sla_report_forbidden_for_customers(api: ApiWorkspace) -> None:
    assert api.client("customer").get("/sla/report").status_code == 403


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "March"}, "from"),
    ({"from": "2026-03-10", "to": "2026-03-01"}, "from"),
    ({"from": "2024-01-01", "to": "2026-01-01"}, "from"),
    ({"team": "1"}, "team"),
])
def test_sla_report_rejects_bad_period(api: ApiWorkspace, params: dict[str, str],
                                       field: str) -> None:
    response = api.client("agent").get("/sla/report", params=params)

    assert response.status_code == 422
    assert error_of(response)["field"] == field


@pytest.mark.parametrize(("escalation", "status", "field"), [
    ([{"action": "reassign"}], 422, "escalation[0].team_id"),
    ([{"action": "raise_priority", "priority": "asap"}], 422, "escalation[0].priority"),
    ([{"action": "reassign", "team_id": 999_999}], 404, "escalation[0].team_id"),
])
def test_policy_escalation_errors_name_field(api: ApiWorkspace, escalation: list[Any],
                                             status: int, field: str) -> None:
    response = api.client("admin").post("/sla/policies", json={
        "name": "Escalating", "first_response_minutes": 30, "escalation": escalation})

    assert response.status_code == status
    assert error_of(response)["field"] == field


def test_policy_escalation_round_trip(fresh_api: ApiWorkspace, factory: Factory) -> None:
    team_id = add_team(factory, fresh_api.tenant, "Escalations", [fresh_api.user_id("agent")])

    created = add_policy(fresh_api, escalation=[
        {"action": "raise_priority", "priority": "urgent"},
        {"action": "reassign", "team_id": team_id}])
    default = add_policy(fresh_api, name="Plain")

    assert created["escalation"] == [{"action": "raise_priority", "priority": "urgent"},
                                     {"action": "reassign", "team_id": team_id}]
    assert default["escalation"] == [{"action": "notify"}]
