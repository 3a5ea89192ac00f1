"""Per-ticket SLA targets on a frozen clock: start, pause and resume, replies and notes,
and recomputation after a policy or calendar change."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from portal.db import Database
from portal.sdk import AppContext
from tests.apps.ticketcloud.conftest import Workspace, create_ticket
from tests.apps.ticketcloud.sla.calendars_for_tests import utc
from tests.support import ON_POSTGRESQL
from ticketcloud.conversation import Author, do_reply
from ticketcloud.models import (
    Channel,
    Message,
    Priority,
    SlaTarget,
    TargetKind,
    TargetState,
    Ticket,
    Visibility,
)
from ticketcloud.sla.calendars import business_calendar, do_create_calendar, do_update_calendar
from ticketcloud.sla.policies import do_create_policy, do_move_policy
from ticketcloud.sla.targets import (
    at_risk_targets,
    due_targets,
    recompute_calendar,
    record_message,
    sync_targets,
    target_json,
    ticket_targets,
)
from ticketcloud.status import Status
from ticketcloud.tickets import allocate_number
from ticketcloud.updates import do_update_ticket

BERLIN_OFFICE: dict[str, Any] = {
    "name": "Berlin office", "time_zone": "Europe/Berlin",
    "hours": {day: [["09:00", "12:00"], ["13:00", "17:00"]]
              for day in ("mon", "tue", "wed", "thu", "fri")},
}
# Tuesday 3 March 2026, 10:00 in Berlin (CET, UTC+1).
TUESDAY_TEN = utc(2026, 3, 3, 9, 0)


async def add_office_policy(db: Database, workspace: Workspace, **targets: Any) -> int:
    async with db.transaction() as session:
        calendar = await do_create_calendar(session, workspace.tenant_id, BERLIN_OFFICE)
        policy = await do_create_policy(session, workspace.tenant_id, {
            "name": "Office hours", "calendar_id": calendar.id, **targets})
    assert calendar.id is not None and policy.id is not None
    return calendar.id


async def new_ticket(db: Database, workspace: Workspace, now: datetime, *,
                     priority: Priority = Priority.NORMAL) -> Ticket:
    """Insert a ticket created at `now` and start its targets, as ticket creation does."""
    async with db.transaction() as session:
        ticket = Ticket(tenant_id=workspace.tenant_id,
                        number=await allocate_number(session, workspace.tenant_id),
                        subject="VPN down", requester_email=workspace.customer.email,
                        channel=Channel.WEB, priority=priority, tags=[], created_at=now,
                        updated_at=now)
        session.add(ticket)
        await session.flush()
        await sync_targets(session, ticket, now)
    return ticket


async def change(db: Database, ticket: Ticket, now: datetime, **fields: Any) -> Ticket:
    async with db.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        for name, value in fields.items():
            setattr(loaded, name, value)
        session.add(loaded)
        await sync_targets(session, loaded, now)
    return loaded


async def add_message(db: Database, workspace: Workspace, ticket: Ticket, now: datetime, *,
                      from_agent: bool, visibility: Visibility = Visibility.PUBLIC,
                      automatic: bool = False) -> None:
    author = workspace.agents[0] if from_agent else workspace.customer
    async with db.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None and ticket.id is not None
        message = Message(tenant_id=workspace.tenant_id, ticket_id=ticket.id,
                          author_user_id=None if automatic else author.id,
                          author_name=author.name, from_agent=from_agent,
                          visibility=visibility, body="...", created_at=now)
        session.add(message)
        await session.flush()
        await record_message(session, loaded, message, now)


async def targets_of(db: Database, ticket: Ticket) -> dict[TargetKind, list[SlaTarget]]:
    async with db.read() as session:
        rows = await ticket_targets(session, ticket)
    grouped: dict[TargetKind, list[SlaTarget]] = {}
    for row in rows:
        grouped.setdefault(row.kind, []).append(row)
    return grouped


async def test_targets_start_after_hours(db: Database, workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=60, resolution_minutes=480)
    # Tuesday 18:30 in Berlin: the clock starts on Wednesday at 09:00.
    ticket = await new_ticket(db, workspace, utc(2026, 3, 3, 17, 30))

    targets = await targets_of(db, ticket)

    assert targets[TargetKind.FIRST_RESPONSE][0].due_at == utc(2026, 3, 4, 9, 0)
    # 420 minutes on Wednesday, the last 60 on Thursday morning.
    assert targets[TargetKind.RESOLUTION][0].due_at == utc(2026, 3, 5, 9, 0)
    assert targets[TargetKind.FIRST_RESPONSE][0].warn_at == utc(2026, 3, 4, 8, 48)
    assert TargetKind.NEXT_RESPONSE not in targets


async def test_targets_none_without_policy(db: Database, workspace: Workspace) -> None:
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    assert await targets_of(db, ticket) == {}


async def test_targets_default_calendar_is_around_the_clock(db: Database,
                                                            workspace: Workspace) -> None:
    async with db.transaction() as session:
        await do_create_policy(session, workspace.tenant_id,
                               {"name": "24/7", "first_response_minutes": 90})
    # Saturday night: the 24/7 calendar counts it.
    ticket = await new_ticket(db, workspace, utc(2026, 3, 7, 23, 0))

    targets = await targets_of(db, ticket)

    assert targets[TargetKind.FIRST_RESPONSE][0].due_at == utc(2026, 3, 8, 0, 30)


async def test_pause_and_resume_keep_consumed_time(db: Database,
                                                   workspace: Workspace) -> None:
    await add_office_policy(db, workspace, resolution_minutes=240)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    # 10:00 to 10:45: 45 minutes consumed, then the ticket waits on the customer.
    await change(db, ticket, TUESDAY_TEN + timedelta(minutes=45), status=Status.PENDING)
    paused = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]
    # The customer replies on Thursday at 16:00 Berlin time.
    await change(db, ticket, utc(2026, 3, 5, 15, 0), status=Status.OPEN)
    resumed = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]

    assert paused.state is TargetState.PAUSED
    assert paused.consumed_seconds == 45 * 60
    assert paused.due_at is None
    assert resumed.state is TargetState.RUNNING
    # 195 minutes left: 60 on Thursday, then 09:00-11:15 on Friday.
    assert resumed.due_at == utc(2026, 3, 6, 10, 15)


async def test_on_hold_pauses_response_target(db: Database, workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=60)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    await change(db, ticket, TUESDAY_TEN + timedelta(minutes=10), status=Status.ON_HOLD)
    target = (await targets_of(db, ticket))[TargetKind.FIRST_RESPONSE][0]

    assert target.state is TargetState.PAUSED
    assert target.consumed_seconds == 10 * 60


async def test_overdue_target_keeps_running_when_paused(db: Database,
                                                        workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=30)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    await change(db, ticket, TUESDAY_TEN + timedelta(hours=1), status=Status.PENDING)
    target = (await targets_of(db, ticket))[TargetKind.FIRST_RESPONSE][0]

    assert target.state is TargetState.RUNNING
    assert target.due_at == TUESDAY_TEN + timedelta(minutes=30)


async def test_public_agent_reply_meets_first_response(db: Database,
                                                       workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=60)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    await add_message(db, workspace, ticket, TUESDAY_TEN + timedelta(minutes=20),
                      from_agent=True)
    target = (await targets_of(db, ticket))[TargetKind.FIRST_RESPONSE][0]

    assert target.state is TargetState.MET
    assert target.completed_at == TUESDAY_TEN + timedelta(minutes=20)


async def test_internal_note_does_not_meet_response(db: Database,
                                                    workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=60)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    await add_message(db, workspace, ticket, TUESDAY_TEN + timedelta(minutes=5),
                      from_agent=True, visibility=Visibility.INTERNAL)
    await add_message(db, workspace, ticket, TUESDAY_TEN + timedelta(minutes=6),
                      from_agent=True, automatic=True)
    await change(db, ticket, TUESDAY_TEN + timedelta(minutes=7), status=Status.OPEN)
    target = (await targets_of(db, ticket))[TargetKind.FIRST_RESPONSE][0]

    assert target.state is TargetState.RUNNING
    assert target.due_at == TUESDAY_TEN + timedelta(minutes=60)


async def test_late_reply_is_breached(db: Database, workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=60)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    await add_message(db, workspace, ticket, TUESDAY_TEN + timedelta(hours=3),
                      from_agent=True)
    target = (await targets_of(db, ticket))[TargetKind.FIRST_RESPONSE][0]

    assert target.state is TargetState.BREACHED


async def test_customer_message_starts_next_response(db: Database,
                                                     workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=60,
                            next_response_minutes=120)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    await add_message(db, workspace, ticket, TUESDAY_TEN + timedelta(minutes=10),
                      from_agent=True)

    # The customer writes twice; the second message does not restart the clock.
    await add_message(db, workspace, ticket, utc(2026, 3, 3, 15, 0), from_agent=False)
    await add_message(db, workspace, ticket, utc(2026, 3, 3, 15, 30), from_agent=False)
    waiting = (await targets_of(db, ticket))[TargetKind.NEXT_RESPONSE]
    await add_message(db, workspace, ticket, utc(2026, 3, 4, 8, 0), from_agent=True)
    answered = (await targets_of(db, ticket))[TargetKind.NEXT_RESPONSE]

    assert len(waiting) == 1
    # 16:00 Berlin: one hour on Tuesday, one on Wednesday morning.
    assert waiting[0].due_at == utc(2026, 3, 4, 9, 0)
    assert answered[0].state is TargetState.MET


async def test_solving_meets_resolution(db: Database, workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=60, resolution_minutes=600)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    await change(db, ticket, TUESDAY_TEN + timedelta(minutes=30), status=Status.SOLVED)
    targets = await targets_of(db, ticket)

    assert targets[TargetKind.RESOLUTION][0].state is TargetState.MET
    assert targets[TargetKind.FIRST_RESPONSE][0].state is TargetState.PAUSED


async def test_priority_change_applies_other_policy(db: Database,
                                                    workspace: Workspace) -> None:
    calendar_id = await add_office_policy(db, workspace, resolution_minutes=480)
    async with db.transaction() as session:
        urgent = await do_create_policy(session, workspace.tenant_id, {
            "name": "Urgent", "calendar_id": calendar_id, "resolution_minutes": 120,
            "conditions": {"priorities": ["urgent"]}})
        await do_move_policy(session, workspace.tenant_id, urgent.id, 0)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    # After 90 business minutes the ticket becomes urgent: 30 of 120 minutes are left.
    await change(db, ticket, TUESDAY_TEN + timedelta(minutes=90), priority=Priority.URGENT)
    target = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]

    assert target.policy_id == urgent.id
    assert target.target_minutes == 120
    assert target.consumed_seconds == 90 * 60
    # 11:30 Berlin plus 30 minutes ends at the lunch break.
    assert target.due_at == utc(2026, 3, 3, 11, 0)


async def test_policy_change_removes_unset_target(db: Database, workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=60)
    async with db.transaction() as session:
        low = await do_create_policy(session, workspace.tenant_id, {
            "name": "Low", "resolution_minutes": 6000, "conditions": {"priorities": ["low"]}})
        await do_move_policy(session, workspace.tenant_id, low.id, 0)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    await change(db, ticket, TUESDAY_TEN + timedelta(minutes=5), priority=Priority.LOW)
    targets = await targets_of(db, ticket)

    assert TargetKind.FIRST_RESPONSE not in targets
    assert targets[TargetKind.RESOLUTION][0].started_at == TUESDAY_TEN + timedelta(minutes=5)


async def test_sync_unchanged_is_idempotent(db: Database, workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=60)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    await change(db, ticket, TUESDAY_TEN + timedelta(minutes=30), tags=["vpn"])
    targets = await targets_of(db, ticket)

    assert len(targets[TargetKind.FIRST_RESPONSE]) == 1
    assert targets[TargetKind.FIRST_RESPONSE][0].due_at == TUESDAY_TEN + timedelta(minutes=60)
    assert targets[TargetKind.FIRST_RESPONSE][0].consumed_seconds == 0


async def test_calendar_change_retimes_running_targets(db: Database,
                                                       workspace: Workspace) -> None:
    calendar_id = await add_office_policy(db, workspace, resolution_minutes=240)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    now = TUESDAY_TEN + timedelta(minutes=60)

    async with db.transaction() as session:
        _, before = await do_update_calendar(session, workspace.tenant_id, calendar_id, {
            **BERLIN_OFFICE, "time_zone": "America/New_York"})
        changed = await recompute_calendar(session, workspace.tenant_id, calendar_id, before,
                                           now)
    target = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]

    assert changed == 1
    assert target.consumed_seconds == 60 * 60
    # 180 minutes left from 06:00 New York time: 09:00-12:00 there.
    assert target.due_at == utc(2026, 3, 3, 17, 0)


async def test_calendar_saves_keep_due_time(db: Database, workspace: Workspace) -> None:
    """Ten saves of an unchanged calendar, 30.25 s apart, bank every run to the second."""
    calendar_id = await add_office_policy(db, workspace, resolution_minutes=240)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    started = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]
    gap = timedelta(seconds=30, milliseconds=250)

    due_times, warn_times = set(), set()
    for save in range(1, 11):
        async with db.transaction() as session:
            _, before = await do_update_calendar(session, workspace.tenant_id, calendar_id,
                                                 BERLIN_OFFICE)
            await recompute_calendar(session, workspace.tenant_id, calendar_id, before,
                                     TUESDAY_TEN + save * gap)
        target = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]
        due_times.add(target.due_at)
        warn_times.add(target.warn_at)

    assert started.due_at == utc(2026, 3, 3, 14, 0)
    assert due_times == {started.due_at}
    assert warn_times == {started.warn_at}
    # 302.5 s after the start; the clock counts whole seconds.
    assert target.consumed_seconds == 302
    assert target.running_since == TUESDAY_TEN + timedelta(seconds=302)


async def test_policy_switches_keep_due_time(db: Database, workspace: Workspace) -> None:
    """Each priority change moves the target to the other policy and banks its run."""
    calendar_id = await add_office_policy(db, workspace, resolution_minutes=240)
    async with db.transaction() as session:
        urgent = await do_create_policy(session, workspace.tenant_id, {
            "name": "Urgent", "calendar_id": calendar_id, "resolution_minutes": 240,
            "conditions": {"priorities": ["urgent"]}})
        await do_move_policy(session, workspace.tenant_id, urgent.id, 0)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    started = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]

    policies, due_times = set(), set()
    for change_number in range(1, 9):
        priority = Priority.URGENT if change_number % 2 else Priority.NORMAL
        await change(db, ticket, TUESDAY_TEN + timedelta(seconds=30 * change_number),
                     priority=priority)
        target = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]
        policies.add(target.policy_id)
        due_times.add(target.due_at)

    assert len(policies) == 2
    assert due_times == {started.due_at}
    assert target.consumed_seconds == 8 * 30


async def test_pause_and_resume_keep_exact_seconds(db: Database,
                                                   workspace: Workspace) -> None:
    await add_office_policy(db, workspace, resolution_minutes=240)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    # 10:00:00 to 10:45:17.6 Berlin time: 2717 s consumed (the clock drops the fraction).
    await change(db, ticket, TUESDAY_TEN + timedelta(minutes=45, seconds=17, milliseconds=600),
                 status=Status.PENDING)
    paused = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]
    # Thursday 16:00:40 Berlin time: 59 min 20 s on Thursday, 135 min 23 s on Friday.
    await change(db, ticket, utc(2026, 3, 5, 15, 0, 40), status=Status.OPEN)
    resumed = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]
    # Paused again on Friday at 11:00:00.9 Berlin time, resumed at 11:30:30.
    await change(db, ticket, utc(2026, 3, 6, 10, 0) + timedelta(milliseconds=900),
                 status=Status.PENDING)
    paused_again = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]
    await change(db, ticket, utc(2026, 3, 6, 10, 30, 30), status=Status.OPEN)
    resumed_again = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]

    assert paused.consumed_seconds == 45 * 60 + 17
    assert target_json(paused)["consumed_minutes"] == 45
    assert resumed.consumed_seconds == 45 * 60 + 17
    assert resumed.due_at == utc(2026, 3, 6, 10, 15, 23)
    # 2717 s, then 3560 s on Thursday and 7200 s on Friday up to 11:00:00.
    assert paused_again.consumed_seconds == 2717 + 3560 + 7200
    # 923 s (15 min 23 s) are left from 11:30:30.
    assert resumed_again.due_at == utc(2026, 3, 6, 10, 45, 53)


async def test_pause_and_resume_inside_one_minute(db: Database,
                                                  workspace: Workspace) -> None:
    """Twenty pauses of 20 s, each after 10 s of running: 200 s run, 400 s paused."""
    await add_office_policy(db, workspace, resolution_minutes=240)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    started = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]

    for round_number in range(20):
        pause = TUESDAY_TEN + timedelta(seconds=30 * round_number + 10)
        await change(db, ticket, pause, status=Status.PENDING)
        await change(db, ticket, pause + timedelta(seconds=20), status=Status.OPEN)
    target = (await targets_of(db, ticket))[TargetKind.RESOLUTION][0]

    assert target.consumed_seconds == 200
    assert started.due_at is not None
    assert target.due_at == started.due_at + timedelta(seconds=400)


async def test_reply_banks_exact_seconds(db: Database, workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=60)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    await add_message(db, workspace, ticket, TUESDAY_TEN + timedelta(minutes=20, seconds=59),
                      from_agent=True)
    target = (await targets_of(db, ticket))[TargetKind.FIRST_RESPONSE][0]

    assert target.state is TargetState.MET
    assert target.consumed_seconds == 20 * 60 + 59
    assert target_json(target)["consumed_minutes"] == 20


async def test_target_json_is_utc(db: Database, workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=60)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)

    view = target_json((await targets_of(db, ticket))[TargetKind.FIRST_RESPONSE][0])

    assert view["due_at"] == "2026-03-03T10:00:00Z"
    assert view["state"] == "running"
    assert business_calendar(None).zone.key == "UTC"


async def query_plan(db: Database, statement: Any) -> str:
    async with db.read() as session:
        connection = await session.connection()
        compiled = statement.compile(dialect=connection.dialect)
        params = tuple(str(compiled.params[name]) for name in compiled.positiontup)
        result = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                                  params)
        return " ".join(str(row[-1]) for row in result.all())


@pytest.mark.skipif(ON_POSTGRESQL, reason="reads SQLite's EXPLAIN QUERY PLAN output")
async def test_scanner_queries_use_indexes(db: Database) -> None:
    due_plan = await query_plan(db, due_targets(TUESDAY_TEN, limit=500))
    risk_plan = await query_plan(db, at_risk_targets(TUESDAY_TEN, limit=500))

    assert "ix_ticketcloud_sla_target_due" in due_plan
    assert "ix_ticketcloud_sla_target_warn" in risk_plan
    assert "TEMP B-TREE" not in due_plan


async def test_due_targets_finds_overdue_unpublished(db: Database,
                                                     workspace: Workspace) -> None:
    await add_office_policy(db, workspace, first_response_minutes=60, resolution_minutes=600)
    ticket = await new_ticket(db, workspace, TUESDAY_TEN)
    later = TUESDAY_TEN + timedelta(minutes=90)

    async with db.read() as session:
        due = list((await session.exec(due_targets(later, limit=10))).all())
        at_risk = list((await session.exec(at_risk_targets(later, limit=10))).all())

    assert [(target.ticket_id, target.kind) for target in due] == [
        (ticket.id, TargetKind.FIRST_RESPONSE)]
    assert [target.kind for target in at_risk] == [TargetKind.FIRST_RESPONSE]


async def test_ticket_actions_move_targets(context: AppContext, db: Database,
                                           workspace: Workspace) -> None:
    """The wiring in ticket creation, replies and updates, on the real clock."""
    await add_office_policy(db, workspace, first_response_minutes=60)
    ticket = await create_ticket(context, workspace)
    agent = workspace.principal(workspace.agents[0])

    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        await do_reply(context, session, loaded, author=Author.of_principal(agent),
                       body="Looking into it.", visibility="internal")
    after_note = (await targets_of(db, ticket))[TargetKind.FIRST_RESPONSE][0].state
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        await do_update_ticket(context, session, loaded, actor=agent,
                               expected_version=loaded.version, changes={"status": "pending"})
    after_pending = (await targets_of(db, ticket))[TargetKind.FIRST_RESPONSE][0].state
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        await do_reply(context, session, loaded, author=Author.of_principal(agent),
                       body="Fixed.")
    after_reply = (await targets_of(db, ticket))[TargetKind.FIRST_RESPONSE][0].state

    assert after_note is TargetState.RUNNING
    assert after_pending is TargetState.PAUSED
    assert after_reply is TargetState.MET
