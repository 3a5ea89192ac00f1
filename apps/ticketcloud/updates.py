"""Agents changing a ticket's fields, with optimistic concurrency and history."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import (
    AppContext,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Principal,
    Role,
    utcnow,
)
from ticketcloud import mail_out, ticket_events
from ticketcloud.categories import access_category
from ticketcloud.checks import check_choice, check_tags
from ticketcloud.history import record_change
from ticketcloud.models import Priority, Ticket
from ticketcloud.sla import targets as sla_targets
from ticketcloud.sla.local_time import local_to_utc
from ticketcloud.status import Status, check_status, check_transition
from ticketcloud.teams import access_agent, access_team

logger = logging.getLogger(__name__)

# The fields an agent may change, by the history name of each.
EDITABLE = {"status": "status", "priority": "priority", "category_id": "category",
            "team_id": "team", "assignee_id": "assignee", "tags": "tags",
            "due_at": "due"}
# Another way to send `due_at`: a wall-clock time and the agent's IANA zone.
LOCAL_DUE = ("due_local", "time_zone")
# A due time further away than this, either way, is almost certainly a typing error.
MAX_DUE_DISTANCE = timedelta(days=5 * 366)
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


async def do_update_ticket(
    context: AppContext, session: AsyncSession, ticket: Ticket, *, actor: Principal,
    expected_version: object, changes: Mapping[str, object],
) -> Ticket:
    """Apply an agent's `changes` to `ticket` and stage `ticketcloud.ticket.updated`
    (plus `.assigned` for a new assignee and `.solved` when it becomes solved). A new
    or cleared due time re-arms its alert (`ticketcloud.ticket.due`).

    `changes` maps any of status, priority, category_id, team_id, assignee_id, due_at
    (None clears these four) and tags (the whole new list) to the new value. The due
    time may come as `due_local` and `time_zone` instead of `due_at` (see
    `check_local_due`).
    `expected_version` is the `version` the agent's view was based on: when the ticket
    changed since, this raises Conflict with the code `stale_version`, so that two
    agents never silently overwrite each other. Unchanged values are ignored.
    """
    if actor.role is Role.CUSTOMER:
        raise Forbidden("Customers cannot change a ticket's fields; reply to it instead.")
    if actor.tenant_id != ticket.tenant_id:
        raise NotFound(f"Ticket #{ticket.number} not found.", field="ticket")
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise InvalidInput(f"Invalid expected_version {expected_version!r}: send the ticket's "
                           "version as loaded.", field="expected_version")
    requested = await check_changes(session, ticket.tenant_id, changes)
    if ticket.version != expected_version:
        raise stale_version(ticket, expected_version)
    diffs = {name: (getattr(ticket, name), value) for name, value in requested.items()
             if getattr(ticket, name) != value}
    if not diffs:
        return ticket
    if "status" in diffs:
        check_transition(*diffs["status"])

    await claim_version(session, ticket, expected_version)
    now = utcnow()
    ticket.updated_at = now
    for name, (old, new) in diffs.items():
        await record_change(session, ticket, field=EDITABLE[name], old=_plain(old),
                            new=_plain(new), actor_user_id=actor.user_id)
        if name == "status":
            set_status(ticket, new, now)
        else:
            setattr(ticket, name, new)
    if "due_at" in diffs:
        rearm_due_alert(ticket)
    session.add(ticket)
    await session.flush()

    published = {name: {"old": _plain(old), "new": _plain(new)}
                 for name, (old, new) in diffs.items()}
    await sla_targets.sync_targets(session, ticket, now)
    await ticket_events.publish_updated(context, session, ticket, published,
                                        actor_user_id=actor.user_id)
    if "assignee_id" in diffs and ticket.assignee_id is not None:
        await ticket_events.publish_assigned(context, session, ticket)
    if "status" in diffs and ticket.status is Status.SOLVED:
        await ticket_events.publish_solved(context, session, ticket)
        await mail_out.send_rating_request(context, session, ticket, workspace=actor.tenant_slug)
    logger.info("User %s changed %s of ticket %s in tenant %s (version %s)", actor.user_id,
                sorted(diffs), ticket.id, ticket.tenant_id, ticket.version)
    return ticket


async def check_changes(session: AsyncSession, tenant_id: int,
                        changes: Mapping[str, object]) -> dict[str, Any]:
    """Return `changes` validated, with ids checked against the tenant."""
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidInput(f"Send the fields to change, any of {sorted(EDITABLE)}.",
                           field="changes")
    unknown = sorted(str(name) for name in changes
                     if name not in EDITABLE and name not in LOCAL_DUE)
    if unknown:
        raise InvalidInput(f"Cannot change {unknown}; the fields agents change are "
                           f"{sorted(EDITABLE)}, and due_local with time_zone.",
                           field="changes")
    changes = dict(changes)
    if any(name in changes for name in LOCAL_DUE):
        if "due_at" in changes:
            raise InvalidInput("Send either due_at, or due_local with time_zone, not both.",
                               field="due_local")
        changes["due_at"] = check_local_due(changes.pop("due_local", None),
                                            changes.pop("time_zone", None))
    requested: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "due_at":
            requested[name] = value if isinstance(value, datetime) else check_due(value)
        elif name == "status":
            requested[name] = check_status(value)
        elif name == "priority":
            requested[name] = check_choice(Priority, value, field="priority")
        elif name == "tags":
            requested[name] = check_tags(value)
        elif value is None:
            requested[name] = None
        elif name == "category_id":
            requested[name] = (await access_category(session, tenant_id, value)).id
        elif name == "team_id":
            requested[name] = (await access_team(session, tenant_id, value)).id
        else:
            requested[name] = (await access_agent(session, tenant_id, value)).id
    return requested


def check_due(value: object, *, now: datetime | None = None) -> datetime | None:
    """Return an agent's due time `due_at`, ISO 8601 with an offset or Z, in UTC to the
    second; None clears it."""
    if value is None:
        return None
    moment = None
    if isinstance(value, str) and _OFFSET.search(value.strip()):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput(f"Invalid due_at {str(value)[:40]!r}: send an ISO 8601 time with "
                           "an offset, such as 2026-03-02T17:00:00Z, or send due_local and "
                           "time_zone instead.", field="due_at")
    return _check_distance(moment.astimezone(UTC).replace(microsecond=0), "due_at", now)


def check_local_due(value: object, zone: object, *, now: datetime | None = None) -> datetime:
    """Return the UTC due time of `value`, a wall-clock time "YYYY-MM-DDTHH:MM" in the
    IANA zone `zone`. A time that the zone skips or repeats is rejected (see
    `sla.local_time.local_to_utc`)."""
    if zone is None:
        raise InvalidInput("The field 'time_zone' is missing: send the IANA time zone of "
                           "due_local, such as 'Europe/Paris'.", field="time_zone")
    if value is None:
        raise InvalidInput("The field 'due_local' is missing: send the local due time as "
                           "YYYY-MM-DDTHH:MM with time_zone, or send due_at: null to clear "
                           "it.", field="due_local")
    return _check_distance(local_to_utc(value, zone, field="due_local"), "due_local", now)


def _check_distance(moment: datetime, field: str, now: datetime | None) -> datetime:
    if abs(moment - (now or utcnow())) > MAX_DUE_DISTANCE:
        raise InvalidInput(f"The due time {moment:%Y-%m-%d %H:%M} UTC is more than 5 years "
                           "from now; check the year.", field=field)
    return moment


async def claim_version(session: AsyncSession, ticket: Ticket, expected: int) -> None:
    """Move the ticket from version `expected` to the next, or raise the stale-version
    Conflict when another transaction changed it first.

    The compare-and-set is one UPDATE, so it also holds on databases that, unlike
    SQLite, let two writers read the same version at once.
    """
    statement = (update(Ticket)
                 .where(col(Ticket.id) == ticket.id, col(Ticket.version) == expected)
                 .values(version=expected + 1)
                 .execution_options(synchronize_session=False))
    result = await session.exec(statement)
    if result.rowcount != 1:
        raise stale_version(ticket, expected)
    ticket.version = expected + 1


def rearm_due_alert(ticket: Ticket) -> None:
    """Clear the flag of the due-time alert (see `sla.due_alerts`), so that the new due
    time alerts when it passes.

    The flag is written even when it reads false here, because on PostgreSQL the scan
    job may have set it since this transaction loaded the ticket. An UPDATE that left
    the column out would keep that alert for the new due time too.
    """
    ticket.due_alerted = False
    flag_modified(ticket, "due_alerted")


def stale_version(ticket: Ticket, expected: int) -> Conflict:
    return Conflict(f"Ticket #{ticket.number} changed since you loaded version {expected}; "
                    "reload it and apply your change again.", code="stale_version",
                    field="expected_version")


def set_status(ticket: Ticket, status: Status, now: datetime) -> None:
    """Set the status and the timestamps that go with it; the caller checked the
    transition."""
    if ticket.status is Status.SOLVED and status is not Status.SOLVED:
        # A rating link belongs to one solve, so reopening or closing voids it.
        ticket.rating_nonce_hash = None
    if status is Status.SOLVED:
        ticket.solved_at = now
    elif status is Status.CLOSED:
        ticket.closed_at = now
    elif ticket.status is Status.SOLVED:
        ticket.solved_at = None
    ticket.status = status


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds").replace("+00:00", "Z")
    return value.value if isinstance(value, Status | Priority) else value
