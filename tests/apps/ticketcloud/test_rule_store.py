"""Saving rules: order by position, targets checked against the tenant, and stored
rules that no longer validate left out of evaluation."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from portal.db import Database
from portal.sdk import InvalidInput, NotFound
from tests.apps.ticketcloud.conftest import Workspace, add_rule
from ticketcloud.models import Rule
from ticketcloud.rule_store import (
    do_create_rule,
    do_delete_rule,
    do_move_rule,
    do_update_rule,
    list_rules,
    load_rules,
)


def tag_rule(name: str, *, enabled: bool = True) -> dict[str, Any]:
    return {"name": name, "enabled": enabled,
            "conditions": [{"field": "subject", "operator": "contains", "value": name}],
            "actions": [{"type": "add_tags", "value": [name.lower()]}]}


async def names_in_order(db: Database, workspace: Workspace) -> list[tuple[int, str]]:
    async with db.read() as session:
        return [(rule.position, rule.name) for rule in await list_rules(session,
                                                                       workspace.tenant_id)]


async def test_create_rule_appends(db: Database, workspace: Workspace) -> None:
    for name in ("First", "Second", "Third"):
        await add_rule(db, workspace, tag_rule(name))

    assert await names_in_order(db, workspace) == [(0, "First"), (1, "Second"), (2, "Third")]


async def test_move_rule_renumbers(db: Database, workspace: Workspace) -> None:
    ids = [await add_rule(db, workspace, tag_rule(name)) for name in ("A", "B", "C")]

    async with db.transaction() as session:
        await do_move_rule(session, workspace.tenant_id, ids[2], 0)

    assert await names_in_order(db, workspace) == [(0, "C"), (1, "A"), (2, "B")]


@pytest.mark.parametrize("position", [-1, 3, "0", True])
async def test_move_rule_invalid_position(db: Database, workspace: Workspace,
                                          position: object) -> None:
    ids = [await add_rule(db, workspace, tag_rule(name)) for name in ("A", "B", "C")]

    with pytest.raises(InvalidInput) as raised:
        async with db.transaction() as session:
            await do_move_rule(session, workspace.tenant_id, ids[0], position)

    assert raised.value.field == "position"


async def test_delete_rule_renumbers(db: Database, workspace: Workspace) -> None:
    ids = [await add_rule(db, workspace, tag_rule(name)) for name in ("A", "B", "C")]

    async with db.transaction() as session:
        await do_delete_rule(session, workspace.tenant_id, ids[0])

    assert await names_in_order(db, workspace) == [(0, "B"), (1, "C")]


async def test_update_rule_keeps_position(db: Database, workspace: Workspace) -> None:
    ids = [await add_rule(db, workspace, tag_rule(name)) for name in ("A", "B")]

    async with db.transaction() as session:
        await do_update_rule(session, workspace.tenant_id, ids[0], tag_rule("Renamed"))

    assert await names_in_order(db, workspace) == [(0, "Renamed"), (1, "B")]


async def test_update_rule_of_other_tenant(db: Database, workspace: Workspace,
                                           other_workspace: Workspace) -> None:
    rule_id = await add_rule(db, other_workspace, tag_rule("Theirs"))

    with pytest.raises(NotFound):
        async with db.transaction() as session:
            await do_update_rule(session, workspace.tenant_id, rule_id, tag_rule("Mine"))


async def test_create_rule_assignee_must_be_agent(db: Database, workspace: Workspace) -> None:
    data = {**tag_rule("VIP"), "actions": [{"type": "set_assignee",
                                            "value": workspace.customer.id}]}

    with pytest.raises(InvalidInput) as raised:
        async with db.transaction() as session:
            await do_create_rule(session, workspace.tenant_id, data)

    assert "is a customer" in raised.value.message


async def test_load_rules_skips_disabled_and_invalid(
        db: Database, workspace: Workspace, caplog: pytest.LogCaptureFixture) -> None:
    await add_rule(db, workspace, tag_rule("Active"))
    await add_rule(db, workspace, tag_rule("Paused", enabled=False))
    async with db.transaction() as session:
        broken = Rule(tenant_id=workspace.tenant_id, position=2, name="Broken",
                      conditions=[{"field": "subject", "operator": "regex", "value": "("}],
                      actions=[{"type": "add_tags", "value": ["x"]}])
        session.add(broken)

    with caplog.at_level(logging.ERROR, logger="ticketcloud.rule_store"):
        async with db.read() as session:
            loaded = await load_rules(session, workspace.tenant_id)

    assert [rule.name for rule in loaded] == ["Active"]
    assert loaded[0].id is not None
    assert any(f"Rule {broken.id} of tenant {workspace.tenant_id} is invalid" in
               record.getMessage() for record in caplog.records)
