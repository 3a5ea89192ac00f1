"""A ticket's history: one entry per changed field, naming the agent or rule and why."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import NotFound, access_row, core_connection, find_users, utcnow
from ticketcloud.models import MAX_HISTORY_VALUE, Category, HistoryEntry, Team, Ticket

_PENDING_KEY = "ticketcloud.pending_history"
_WRITTEN_KEY = "ticketcloud.written_history"

# Ticket attributes whose changes are recorded, by the field name history entries use.
FIELDS = {"status": "status", "priority": "priority", "category": "category_id",
          "team": "team_id", "assignee": "assignee_id", "tags": "tags"}


async def describe(session: AsyncSession, tenant_id: int, field: str,
                   value: object) -> str | None:
    """Return a field's value as people read it: names for ids, tags joined by commas,
    and None for no value or no tags."""
    if value is None:
        return None
    if field in ("team", "category") and isinstance(value, int):
        try:
            row: Team | Category = await access_row(
                session, Team if field == "team" else Category, tenant_id, value)
        except NotFound:
            return f"#{value}"
        return row.name
    if field == "assignee" and isinstance(value, int):
        users = await find_users(session, tenant_id, ids=[value])
        return users[0].name if users else f"#{value}"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or None
    return str(value)


async def record_change(
    session: AsyncSession, ticket: Ticket, *, field: str, old: object, new: object,
    actor_user_id: int | None = None, rule_id: int | None = None,
    rule_name: str | None = None, reason: str = "", new_label: str | None = None,
) -> None:
    """Add a history entry for a change of `field` from `old` to `new` (raw values).
    `new_label` is how people read `new` when the caller already knows it, such as the
    name of the agent it just picked.

    The entry of a stored ticket is written at once. A ticket that the session has yet
    to insert has no id, so its entries wait for the flush that inserts it and are then
    written in one INSERT (`_insert_after_flush`). Entries are written with Core, not
    as ORM objects: nothing reads their ids back, and the unit of work would insert them
    one by one to read every id."""
    values: dict[str, Any] = {
        "tenant_id": ticket.tenant_id, "ticket_id": ticket.id,
        "actor_user_id": actor_user_id, "rule_id": rule_id, "rule_name": rule_name,
        "field": field,
        "old_value": _cut(await describe(session, ticket.tenant_id, field, old)),
        "new_value": _cut(new_label if new_label is not None
                          else await describe(session, ticket.tenant_id, field, new)),
        "reason": _cut(reason) or "", "created_at": utcnow(),
    }
    if ticket.id is not None:
        await (await core_connection(session)).execute(_INSERT, [values])
    else:
        session.info.setdefault(_PENDING_KEY, []).append((values, ticket))


_INSERT = HistoryEntry.__table__.insert()  # type: ignore[attr-defined]


@event.listens_for(Session, "after_flush")
def _insert_after_flush(session: Session, _context: object) -> None:
    """Write the waiting entries of tickets that the flush inserted, in one executemany
    INSERT in the order recorded. This listener runs after every flush of every session
    in the process, so it returns at once when nothing waits."""
    rows = _ready_rows(session)
    if rows:
        session.connection().execute(_INSERT, rows)


async def write_waiting(session: AsyncSession) -> None:
    """Write the waiting entries of tickets that were inserted without a flush, such as
    by `insert_row`, in one INSERT."""
    rows = _ready_rows(session.sync_session)
    if rows:
        await (await core_connection(session)).execute(_INSERT, rows)


def _ready_rows(session: Session) -> list[dict[str, Any]]:
    """Return the waiting entries whose ticket has an id now, with that id, and move them
    from the waiting to the written ones."""
    pending: list[tuple[dict[str, Any], Ticket]] | None = session.info.get(_PENDING_KEY)
    if not pending:
        return []
    ready = [(values, ticket) for values, ticket in pending if ticket.id is not None]
    if not ready:
        return []
    pending[:] = [(values, ticket) for values, ticket in pending if ticket.id is None]
    for values, ticket in ready:
        values["ticket_id"] = ticket.id
    rows = [values for values, _ticket in ready]
    session.info.setdefault(_WRITTEN_KEY, []).extend(rows)
    return rows


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, _previous: object) -> None:
    """Forget the waiting entries when the session rolls back (a savepoint included):
    the changes they describe were undone."""
    for key in (_PENDING_KEY, _WRITTEN_KEY):
        if session.info.get(key):
            session.info[key].clear()


def new_ticket_history(session: AsyncSession, ticket: Ticket) -> list[HistoryEntry]:
    """Return the history entries written for `ticket` after the flush that inserted it,
    in the order recorded, as entries that belong to no session (their ids are not
    read back)."""
    return [HistoryEntry.model_construct(**values)
            for values in session.info.get(_WRITTEN_KEY, []) if values["ticket_id"] == ticket.id]


async def ticket_history(session: AsyncSession, ticket: Ticket) -> Sequence[HistoryEntry]:
    """Return the ticket's history, oldest first."""
    statement = (select(HistoryEntry)
                 .where(HistoryEntry.tenant_id == ticket.tenant_id,
                        HistoryEntry.ticket_id == ticket.id)
                 .order_by(col(HistoryEntry.id)))
    return (await session.exec(statement)).all()


def _cut(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_HISTORY_VALUE:
        return value
    return value[:MAX_HISTORY_VALUE - 1] + "…"
