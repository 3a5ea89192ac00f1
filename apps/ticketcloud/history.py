"""A ticket's history: one entry per changed field, naming the agent or rule and why."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import NotFound, access_row, find_users
from ticketcloud.models import MAX_HISTORY_VALUE, Category, HistoryEntry, Team, Ticket

_PENDING_KEY = "ticketcloud.pending_history"
_TAKEN_KEY = "ticketcloud.taken_history"

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
) -> HistoryEntry:
    """Add a history entry for a change of `field` from `old` to `new` (raw values).
    `new_label` is how people read `new` when the caller already knows it, such as the
    name of the agent it just picked. The ticket may be one the session has yet to
    insert; the entry is written after it."""
    entry = HistoryEntry(
        # None while the ticket waits for its INSERT; `_insert` sets it then.
        tenant_id=ticket.tenant_id, ticket_id=ticket.id,  # type: ignore[arg-type]
        actor_user_id=actor_user_id,
        rule_id=rule_id, rule_name=rule_name, field=field,
        old_value=_cut(await describe(session, ticket.tenant_id, field, old)),
        new_value=_cut(new_label if new_label is not None
                       else await describe(session, ticket.tenant_id, field, new)),
        reason=_cut(reason) or "",
    )
    session.add(entry)
    pending = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = []
        event.listen(session.sync_session, "before_flush", _take_pending)
        event.listen(session.sync_session, "after_flush", _insert_after_flush)
    pending.append((entry, ticket))
    return entry


def _take_pending(session: Session, _context: object, _instances: object) -> None:
    """Write the history entries recorded since the last flush in one executemany INSERT,
    in the order recorded, and take them out of the unit of work. Entries of a ticket
    this flush inserts wait for `_insert_after_flush`, when the ticket has its id.

    The unit of work would insert them one statement each, because it reads back every
    new id and SQLite's RETURNING does not keep the order of a multi-row INSERT. Nothing
    needs the ids of history entries, so they are not read back; the entries stay
    readable through `ticket_history` once the flush ran."""
    pending: list[tuple[HistoryEntry, Ticket]] = session.info.get(_PENDING_KEY, [])
    taken = [(entry, ticket) for entry, ticket in pending if entry in session.new]
    pending.clear()
    for entry, _ticket in taken:
        session.expunge(entry)
    if any(ticket.id is None for _entry, ticket in taken):
        session.info[_TAKEN_KEY] = taken
    else:
        _insert(session, taken)


def _insert_after_flush(session: Session, _context: object) -> None:
    _insert(session, session.info.pop(_TAKEN_KEY, []))


def _insert(session: Session, taken: list[tuple[HistoryEntry, Ticket]]) -> None:
    if not taken:
        return
    for entry, ticket in taken:
        assert ticket.id is not None
        entry.ticket_id = ticket.id
    session.connection().execute(
        HistoryEntry.__table__.insert(),  # type: ignore[attr-defined]
        [entry.model_dump(exclude={"id"}) for entry, _ticket in taken])


def pending_history(session: AsyncSession) -> list[HistoryEntry]:
    """Return the history entries recorded in `session` that the next flush writes, in
    the order recorded."""
    return [entry for entry, _ticket in session.info.get(_PENDING_KEY, [])]


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
