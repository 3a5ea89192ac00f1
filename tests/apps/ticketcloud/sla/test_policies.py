"""SLA policies: validation, first-match order and shadowed policies."""

from __future__ import annotations

from typing import Any

import pytest

from portal.db import Database
from portal.sdk import InvalidInput, NotFound
from tests.apps.ticketcloud.conftest import Workspace, add_team
from ticketcloud.models import SlaPolicy
from ticketcloud.sla.policies import (
    PolicyFacts,
    check_policy,
    do_create_policy,
    do_move_policy,
    first_match,
    list_policies,
    policy_json,
)

BASE: dict[str, Any] = {"name": "Standard", "first_response_minutes": 60}


def facts(priority: str = "normal", email: str = "cal@acme.test", team_id: int | None = None,
          category_id: int | None = None) -> PolicyFacts:
    return PolicyFacts(priority=priority, category_id=category_id, team_id=team_id,
                       requester_email=email)


def policy(policy_id: int, conditions: dict[str, Any], *, enabled: bool = True) -> SlaPolicy:
    return SlaPolicy(id=policy_id, tenant_id=1, position=policy_id, name=f"P{policy_id}",
                     enabled=enabled, conditions=conditions, first_response_minutes=60)


@pytest.mark.parametrize(("change", "field"), [
    ({"first_response_minutes": None}, "first_response_minutes"),
    ({"first_response_minutes": 0}, "first_response_minutes"),
    ({"resolution_minutes": "60"}, "resolution_minutes"),
    ({"warning_percent": 100}, "warning_percent"),
    ({"conditions": {"priorities": []}}, "conditions.priorities"),
    ({"conditions": {"priorities": ["critical"]}}, "conditions.priorities"),
    ({"conditions": {"customers": ["not an address"]}}, "conditions.customers"),
    ({"conditions": {"colour": ["red"]}}, "conditions.colour"),
    ({"conditions": {"team_ids": [0]}}, "conditions.team_ids"),
    ({"calendar_id": "7"}, "calendar_id"),
    ({"enabled": "yes"}, "enabled"),
    ({"name": " "}, "name"),
])
def test_check_policy_rejects(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_policy({**BASE, **change})

    assert raised.value.field == field


def test_check_policy_normalises_customers() -> None:
    checked = check_policy({**BASE, "conditions": {"customers": ["VIP@Example.com",
                                                                 "example.org"]}})

    assert checked["conditions"] == {"customers": ["example.org", "vip@example.com"]}


def test_first_match_wins_over_later_contradiction() -> None:
    policies = [policy(1, {"priorities": ["urgent"]}), policy(2, {})]

    assert first_match(policies, facts("urgent")) is policies[0]
    assert first_match(policies, facts("low")) is policies[1]


def test_first_match_skips_disabled() -> None:
    policies = [policy(1, {}, enabled=False), policy(2, {"priorities": ["low"]})]

    assert first_match(policies, facts("normal")) is None
    assert first_match(policies, facts("low")) is policies[1]


@pytest.mark.parametrize(("customers", "email", "expected"), [
    (["example.com"], "ann@example.com", True),
    (["example.com"], "ann@sub.example.com", False),
    (["ann@example.com"], "ann@example.com", True),
    (["ann@example.com"], "bob@example.com", False),
])
def test_match_customer_email_or_domain(customers: list[str], email: str,
                                        expected: bool) -> None:
    policies = [policy(1, {"customers": customers})]

    assert (first_match(policies, facts(email=email)) is not None) is expected


def test_policy_json_reports_shadowed_policy() -> None:
    policies = [policy(1, {"customers": ["example.com"]}),
                policy(2, {"customers": ["ann@example.com"], "priorities": ["high"]}),
                policy(3, {"priorities": ["high"]})]

    assert policy_json(policies[1], policies)["shadowed_by"] == 1
    assert policy_json(policies[2], policies)["shadowed_by"] is None


async def test_create_policy_checks_tenant_ids(db: Database, workspace: Workspace,
                                               other_workspace: Workspace) -> None:
    team = await add_team(db, other_workspace, "Elsewhere", members=[])

    async with db.transaction() as session:
        with pytest.raises(NotFound) as raised:
            await do_create_policy(session, workspace.tenant_id,
                                   {**BASE, "conditions": {"team_ids": [team.id]}})
    assert raised.value.field == "conditions.team_ids[0]"


async def test_move_policy_changes_order(db: Database, workspace: Workspace) -> None:
    async with db.transaction() as session:
        first = await do_create_policy(session, workspace.tenant_id, {**BASE, "name": "A"})
        second = await do_create_policy(session, workspace.tenant_id, {**BASE, "name": "B"})
        await do_move_policy(session, workspace.tenant_id, second.id, 0)

    async with db.read() as session:
        ordered = await list_policies(session, workspace.tenant_id)
    assert [item.id for item in ordered] == [second.id, first.id]
