"""Re-timing SLA targets that are overdue or close to it, on a frozen clock: a calendar
save, a policy change and a pause keep a due time that has passed, the scanner does not
publish the breach again, and the warning point is exact to the second."""

from __future__ import annotations

from datetime import datetime, timedelta

from portal.db import Database
from portal.events.model import Event
from portal.sdk import AppContext
from tests.apps.ticketcloud.conftest import Workspace
from tests.apps.ticketcloud.sla.calendars_for_tests import utc
from tests.apps.ticketcloud.sla.scanner_support import add_round_the_clock_policy, sla_events
from tests.apps.ticketcloud.sla.test_targets import (
    BERLIN_OFFICE,
    TUESDAY_TEN,
    add_office_policy,
    change,
    new_ticket,
    targets_of,
)
from ticketcloud.models import Priority, SlaTarget, TargetKind, TargetState, Ticket
from ticketcloud.sla.calendars import do_update_calendar
from ticketcloud.sla.policies import do_create_policy, do_move_policy
from ticketcloud.sla.scanner import do_scan
from ticketcloud.sla.targets import recompute_calendar, target_json
from ticketcloud.status import Status

# First response in 30 business minutes from Tuesday 10:00 Berlin time (09:00 UTC), with
# the default warning at 80 %: warning at 09:24, due at 09:30 UTC.
DUE = utc(2026, 3, 3, 9, 30)
WARN = utc(2026, 3, 3, 9, 24)


async def first_response(db: Database, ticket: Ticket) -> SlaTarget:
    return (await targets_of(db, ticket))[TargetKind.FIRST_RESPONSE][0]


async def save_calendar(
    db: Database,
    workspace: Workspace,
    calendar_id: int,
    now: datetime,
    definition: dict[str, object] = BERLIN_OFFICE,
) -> None:
    """Save the calendar and re-time its targets, as PUT sla/calendars/{id} does."""
    async with db.transaction() as session:
        _, before = await do_update_calendar(session, workspace.tenant_id, calendar_id, definition)
        await recompute_calendar(session, workspace.tenant_id, calendar_id, before, now)


async def add_urgent_policy(
    db: Database, workspace: Workspace, calendar_id: int, minutes: int
) -> None:
    """Add a policy for urgent tickets on the same calendar, evaluated first."""
    async with db.transaction() as session:
        urgent = await do_create_policy(
            session,
            workspace.tenant_id,
            {
                "name": "Urgent",
                "calendar_id": calendar_id,
                "first_response_minutes": minutes,
                "conditions": {"priorities": ["urgent"]},
            },
        )
        await do_move_policy(session, workspace.tenant_id, urgent.id, 0)


async def test_calendar_save_keeps_overdue_due_time(
    db: Database, context: AppContext, workspace: Workspace, published: list[Event]
) -> None:
    calendar_id = await add_office_policy(db, workspace, first_response_minutes=30)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    breached = await do_scan(context, DUE + timedelta(seconds=10))

    # The admin saves the calendar unchanged 70 s after the due time, at a fraction of
    # a second, then the scanner runs again.
    await save_calendar(db, workspace, calendar_id, DUE + timedelta(seconds=70.4))
    target = await first_response(db, ticket)
    again = await do_scan(context, DUE + timedelta(seconds=75))

    assert breached.breaches == 1
    assert target.due_at == DUE
    assert target.warn_at == WARN
    assert target.state is TargetState.RUNNING
    assert target.breach_published
    assert target.warning_published
    assert target.consumed_seconds == 30 * 60 + 70
    assert (again.warnings, again.breaches) == (0, 0)
    assert [event.topic for event in sla_events(published)] == ["ticketcloud.sla.breached"]
    assert target_json(target)["due_at"] == "2026-03-03T09:30:00Z"


async def test_calendar_save_keeps_due_time_at_due_moment(
    db: Database, workspace: Workspace
) -> None:
    calendar_id = await add_office_policy(db, workspace, first_response_minutes=30)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    await save_calendar(db, workspace, calendar_id, DUE)
    target = await first_response(db, ticket)

    assert target.due_at == DUE
    assert target.warn_at == WARN


async def test_calendar_save_keeps_passed_warning(db: Database, workspace: Workspace) -> None:
    calendar_id = await add_office_policy(db, workspace, first_response_minutes=30)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    # Between the warning and the due time: the warning stays, the due time is recomputed.
    await save_calendar(db, workspace, calendar_id, WARN + timedelta(minutes=2))
    target = await first_response(db, ticket)

    assert target.warn_at == WARN
    assert target.due_at == DUE


async def test_calendar_change_leaves_time_computes_future(
    db: Database, workspace: Workspace
) -> None:
    calendar_id = await add_office_policy(db, workspace, first_response_minutes=30)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    # 20 minutes consumed; from 09:20 UTC (04:20 in New York) the other 10 minutes start
    # at 09:00 New York time, 14:00 UTC.
    await save_calendar(
        db,
        workspace,
        calendar_id,
        TUESDAY_TEN + timedelta(minutes=20),
        {**BERLIN_OFFICE, "time_zone": "America/New_York"},
    )
    target = await first_response(db, ticket)

    assert target.due_at == utc(2026, 3, 3, 14, 10)
    assert target.warn_at == utc(2026, 3, 3, 14, 4)


async def test_policy_change_keeps_overdue_due_time(
    db: Database, context: AppContext, workspace: Workspace, published: list[Event]
) -> None:
    calendar_id = await add_office_policy(db, workspace, first_response_minutes=30)
    await add_urgent_policy(db, workspace, calendar_id, minutes=20)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    await do_scan(context, DUE + timedelta(minutes=1))

    await change(db, ticket, DUE + timedelta(minutes=5, milliseconds=300), priority=Priority.URGENT)
    target = await first_response(db, ticket)
    again = await do_scan(context, DUE + timedelta(minutes=6))

    assert target.target_minutes == 20
    assert target.due_at == DUE
    assert target.warn_at == WARN
    assert target.breach_published
    assert (again.warnings, again.breaches) == (0, 0)
    assert [event.topic for event in sla_events(published)] == ["ticketcloud.sla.breached"]


async def test_policy_change_making_due_sets_change_time(
    db: Database, workspace: Workspace
) -> None:
    calendar_id = await add_office_policy(db, workspace, first_response_minutes=30)
    await add_urgent_policy(db, workspace, calendar_id, minutes=10)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    changed_at = TUESDAY_TEN + timedelta(minutes=15, milliseconds=700)

    # 15 minutes consumed of a target that is now 10 minutes.
    await change(db, ticket, changed_at, priority=Priority.URGENT)
    target = await first_response(db, ticket)

    assert target.due_at == changed_at.replace(microsecond=0)
    assert target.warn_at == changed_at.replace(microsecond=0)
    assert not target.breach_published


async def test_policy_change_giving_time_rearms_breach(
    db: Database, context: AppContext, workspace: Workspace, published: list[Event]
) -> None:
    calendar_id = await add_office_policy(db, workspace, first_response_minutes=30)
    await add_urgent_policy(db, workspace, calendar_id, minutes=60)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    await do_scan(context, DUE + timedelta(minutes=1))

    # 35 minutes consumed of a target that is now 60 minutes: due at 10:00 UTC.
    await change(db, ticket, DUE + timedelta(minutes=5), priority=Priority.URGENT)
    target = await first_response(db, ticket)
    second = await do_scan(context, utc(2026, 3, 3, 10, 0))

    assert target.due_at == utc(2026, 3, 3, 10, 0)
    # The warning point moved to 09:48 UTC, after the change, so it is due again too.
    assert not target.breach_published
    assert not target.warning_published
    assert second.breaches == 1
    assert [event.topic for event in sla_events(published)] == [
        "ticketcloud.sla.breached",
        "ticketcloud.sla.breached",
    ]


async def test_pause_and_resume_keep_overdue_due_time(
    db: Database, context: AppContext, workspace: Workspace, published: list[Event]
) -> None:
    await add_office_policy(db, workspace, first_response_minutes=30)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    await do_scan(context, DUE + timedelta(seconds=1))

    await change(db, ticket, DUE + timedelta(minutes=10), status=Status.PENDING)
    paused = await first_response(db, ticket)
    await change(db, ticket, DUE + timedelta(minutes=40, milliseconds=500), status=Status.OPEN)
    resumed = await first_response(db, ticket)
    again = await do_scan(context, DUE + timedelta(minutes=41))

    assert paused.state is TargetState.RUNNING
    assert paused.due_at == DUE
    assert resumed.state is TargetState.RUNNING
    assert resumed.due_at == DUE
    assert resumed.warn_at == WARN
    assert (again.warnings, again.breaches) == (0, 0)
    assert len(sla_events(published)) == 1


async def test_warning_exact_for_three_minutes(
    db: Database, context: AppContext, workspace: Workspace, published: list[Event]
) -> None:
    await add_round_the_clock_policy(db, workspace, first_response_minutes=3)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    target = await first_response(db, ticket)
    early = await do_scan(context, TUESDAY_TEN + timedelta(seconds=89))
    warned = await do_scan(context, TUESDAY_TEN + timedelta(seconds=90))

    assert target.warning_seconds == 90
    assert target.warn_at == TUESDAY_TEN + timedelta(seconds=90)
    assert target.due_at == TUESDAY_TEN + timedelta(minutes=3)
    assert target_json(target)["warning_seconds"] == 90
    assert early.warnings == 0
    assert warned.warnings == 1


async def test_warning_exact_for_one_minute(db: Database, workspace: Workspace) -> None:
    await add_round_the_clock_policy(db, workspace, first_response_minutes=1)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    target = await first_response(db, ticket)

    assert target.warning_seconds == 30
    assert target.warn_at == TUESDAY_TEN + timedelta(seconds=30)
    assert target.due_at == TUESDAY_TEN + timedelta(minutes=1)


async def test_warning_rounds_up_to_second(db: Database, workspace: Workspace) -> None:
    # 7 minutes at 33 %: 138.6 s, so the warning comes after 139 s.
    await add_round_the_clock_policy(db, workspace, first_response_minutes=7, warning_percent=33)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    target = await first_response(db, ticket)

    assert target.warning_seconds == 139
    assert target.warn_at == TUESDAY_TEN + timedelta(seconds=139)
