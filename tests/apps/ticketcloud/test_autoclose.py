"""Auto-close: solved tickets close once their tenant's auto_close_hours have passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from portal.db import Database
from portal.events.bus import InProcessBus
from portal.events.model import Event
from portal.sdk import AppContext
from tests.apps.ticketcloud.conftest import (
    Workspace,
    create_ticket,
    history_of,
    reload,
    topics,
)
from ticketcloud.autoclose import close_solved_job, do_close_solved
from ticketcloud.backend import backend
from ticketcloud.models import Ticket
from ticketcloud.settings import do_update_settings
from ticketcloud.status import Status
from ticketcloud.updates import do_update_ticket

SOLVED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def solved_at(context: AppContext, workspace: Workspace, when: datetime) -> Ticket:
    """Create a ticket, solve it, and set its solved time to `when`."""
    ticket = await create_ticket(context, workspace)
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        await do_update_ticket(context, session, loaded,
                               actor=workspace.principal(workspace.admin),
                               expected_version=1, changes={"status": "solved"})
        loaded.solved_at = when
        session.add(loaded)
    return ticket


async def close(context: AppContext, now: datetime) -> int:
    async with context.transaction() as session:
        return await do_close_solved(context, session, now)


async def test_close_solved_after_default_hours(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    ticket = await solved_at(context, workspace, SOLVED_AT)
    published.clear()
    boundary = SOLVED_AT + timedelta(hours=72)
    later = boundary + timedelta(seconds=1)

    closed_at_boundary = await close(context, boundary)
    status_at_boundary = (await reload(db, ticket)).status
    closed_later = await close(context, later)

    assert closed_at_boundary == 0
    assert status_at_boundary is Status.SOLVED
    assert closed_later == 1
    fresh = await reload(db, ticket)
    assert fresh.status is Status.CLOSED
    assert fresh.closed_at == later
    assert fresh.version == 3
    last = (await history_of(db, ticket))[-1]
    assert (last.field, last.old_value, last.new_value) == ("status", "solved", "closed")
    assert last.reason == "Closed automatically 72 hours after it was solved"
    assert last.actor_user_id is None
    assert topics(published) == ["ticketcloud.ticket.updated"]
    assert published[0].payload["changes"] == {"status": {"old": "solved", "new": "closed"}}
    assert published[0].payload["actor_user_id"] is None


async def test_close_solved_uses_tenant_hours(
        context: AppContext, db: Database, workspace: Workspace,
        other_workspace: Workspace) -> None:
    async with db.transaction() as session:
        await do_update_settings(session, workspace.tenant_id, auto_close_hours=2)
    short = await solved_at(context, workspace, SOLVED_AT)
    default = await solved_at(context, other_workspace, SOLVED_AT)

    closed = await close(context, SOLVED_AT + timedelta(hours=3))

    assert closed == 1
    assert (await reload(db, short)).status is Status.CLOSED
    assert (await reload(db, default)).status is Status.SOLVED
    assert (await history_of(db, short))[-1].reason == (
        "Closed automatically 2 hours after it was solved")


async def test_close_solved_leaves_other_statuses(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    open_ticket = await create_ticket(context, workspace)

    closed = await close(context, datetime.now(UTC) + timedelta(days=365))

    assert closed == 0
    assert (await reload(db, open_ticket)).status is Status.NEW


async def test_close_solved_job_runs_in_own_transaction(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    ticket = await solved_at(context, workspace, datetime.now(UTC) - timedelta(hours=73))
    published.clear()

    await close_solved_job(context)

    assert (await reload(db, ticket)).status is Status.CLOSED
    assert topics(published) == ["ticketcloud.ticket.updated"]


async def test_close_solved_job_before_first_install(
        context: AppContext, tmp_path: Path) -> None:
    empty = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    fresh = AppContext(manifest=context.manifest, root=context.root, db=empty,
                       bus=InProcessBus(), data_dir=tmp_path, signing_key=b"k" * 32)
    try:
        await close_solved_job(fresh)
    finally:
        await empty.dispose()


def test_backend_schedules_close_solved_job() -> None:
    jobs = {job.name: job for job in backend.jobs}

    assert jobs["close_solved"].interval_seconds == 300
    assert jobs["close_solved"].run is close_solved_job
