"""Validating calendar definitions and storing them per tenant."""

from __future__ import annotations

from typing import Any

import pytest

from portal.db import Database
from portal.sdk import Conflict, InvalidInput, NotFound
from tests.apps.ticketcloud.conftest import Workspace
from ticketcloud.sla.calendars import (
    ALWAYS_OPEN,
    access_calendar,
    business_calendar,
    check_calendar,
    do_create_calendar,
    do_delete_calendar,
    do_update_calendar,
)
from ticketcloud.sla.policies import do_create_policy

VALID: dict[str, Any] = {
    "name": "Berlin office", "time_zone": "Europe/Berlin",
    "hours": {"mon": [["13:00", "17:00"], ["09:00", "12:00"]], "fri": [["09:00", "24:00"]]},
    "holidays": [{"date": "2026-12-25", "name": "Christmas"}, {"date": "2026-12-24"}],
}


def invalid_field(data: dict[str, Any]) -> str | None:
    with pytest.raises(InvalidInput) as raised:
        check_calendar(data)
    return raised.value.field


def test_check_calendar_sorts_intervals_and_holidays() -> None:
    checked = check_calendar(VALID)

    assert checked.hours == {"mon": [["09:00", "12:00"], ["13:00", "17:00"]],
                             "fri": [["09:00", "24:00"]]}
    assert [item["date"] for item in checked.holidays] == ["2026-12-24", "2026-12-25"]
    assert checked.time_zone == "Europe/Berlin"


@pytest.mark.parametrize(("change", "field"), [
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"time_zone": ""}, "time_zone"),
    ({"hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "hours.mon"),
    ({"hours": {"mon": [["09:00", "09:00"]]}}, "hours.mon[0]"),
    ({"hours": {"tue": [["17:00", "09:00"]]}}, "hours.tue[0]"),
    ({"hours": {"mon": [["9am", "5pm"]]}}, "hours.mon[0]"),
    ({"hours": {"mon": [["24:30", "24:45"]]}}, "hours.mon[0]"),
    ({"hours": {"monday": [["09:00", "17:00"]]}}, "hours.monday"),
    ({"hours": {}}, "hours"),
    ({"hours": {"mon": []}}, "hours"),
    ({"holidays": [{"date": "2206-12-25"}]}, "holidays[0].date"),
    ({"holidays": [{"date": "1999-12-31"}]}, "holidays[0].date"),
    ({"holidays": [{"date": "2026-02-30"}]}, "holidays[0].date"),
    ({"holidays": [{"day": "2026-12-25"}]}, "holidays[0]"),
    ({"name": ""}, "name"),
])
def test_check_calendar_rejects(change: dict[str, Any], field: str) -> None:
    assert invalid_field({**VALID, **change}) == field


def test_business_calendar_of_none_is_always_open() -> None:
    assert business_calendar(None) is ALWAYS_OPEN
    assert ALWAYS_OPEN.week_minutes == 7 * 24 * 60


async def test_calendar_store_is_tenant_isolated(db: Database, workspace: Workspace,
                                                 other_workspace: Workspace) -> None:
    async with db.transaction() as session:
        row = await do_create_calendar(session, workspace.tenant_id, VALID)

    async with db.read() as session:
        with pytest.raises(NotFound) as raised:
            await access_calendar(session, other_workspace.tenant_id, row.id)
    assert raised.value.field == "calendar_id"


async def test_calendar_names_unique_per_tenant(db: Database, workspace: Workspace,
                                                other_workspace: Workspace) -> None:
    async with db.transaction() as session:
        await do_create_calendar(session, workspace.tenant_id, VALID)
        await do_create_calendar(session, other_workspace.tenant_id, VALID)

    async with db.transaction() as session:
        with pytest.raises(Conflict) as raised:
            await do_create_calendar(session, workspace.tenant_id, VALID)
    assert raised.value.field == "name"


async def test_update_calendar_returns_previous_definition(db: Database,
                                                           workspace: Workspace) -> None:
    async with db.transaction() as session:
        row = await do_create_calendar(session, workspace.tenant_id, VALID)
        updated, before = await do_update_calendar(session, workspace.tenant_id, row.id,
                                                   {**VALID, "time_zone": "America/New_York"})

    assert before.zone.key == "Europe/Berlin"
    assert updated.time_zone == "America/New_York"


async def test_delete_calendar_in_use_conflicts(db: Database, workspace: Workspace) -> None:
    async with db.transaction() as session:
        row = await do_create_calendar(session, workspace.tenant_id, VALID)
        await do_create_policy(session, workspace.tenant_id, {
            "name": "Office", "calendar_id": row.id, "first_response_minutes": 60})

    async with db.transaction() as session:
        with pytest.raises(Conflict) as raised:
            await do_delete_calendar(session, workspace.tenant_id, row.id)
    assert raised.value.code == "calendar_in_use"
