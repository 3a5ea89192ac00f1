"""The durable event log: events are written in the transaction that caused them.

Sequence numbers come from a per-tenant counter row that the writing transaction
updates, so the row lock (or SQLite's single writer) makes commit order equal sequence
order within a tenant. A reader that has seen every event up to N can therefore ask for
`seq > N` at any time and never miss one that commits later with a smaller number.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import after_commit, core_connection, utcnow
from portal.errors import InvalidInput
from portal.events.bus import EventBus
from portal.events.model import (
    MAX_PAYLOAD_BYTES,
    Audience,
    Event,
    EventDraft,
    Notification,
    check_topic,
)
from portal.models import EventCounter, EventRecord

logger = logging.getLogger(__name__)

_INSERT_EVENT = EventRecord.__table__.insert()  # type: ignore[attr-defined]
# Core statements on the tables: ORM-enabled ones would flush the session first and
# cost several times as much to run.
_ADVANCE_COUNTER = (
    update(EventCounter.__table__)  # type: ignore[attr-defined]
    .where(col(EventCounter.tenant_id) == bindparam("tenant"))
    .values(last_seq=EventCounter.last_seq + bindparam("count"))
    .returning(col(EventCounter.last_seq))
)


async def stage_event(
    session: AsyncSession, bus: EventBus, *, tenant_id: int, topic: str,
    payload: dict[str, Any], audience: Audience, notification: Notification | None = None,
) -> Event:
    """Write an event into the current transaction and publish it once that commits."""
    draft = EventDraft(topic=topic, payload=payload, audience=audience,
                       notification=notification)
    return (await stage_events(session, bus, tenant_id=tenant_id, drafts=[draft]))[0]


async def stage_events(session: AsyncSession, bus: EventBus, *, tenant_id: int,
                       drafts: Sequence[EventDraft]) -> list[Event]:
    """Write events into the current transaction, with consecutive sequence numbers in
    the order given, and publish them in that order once it commits. One counter update
    serves them all."""
    encoded = [_encoded_payload(draft) for draft in drafts]
    if not drafts:
        return []
    last = await _next_seq(session, tenant_id, len(drafts))
    now = utcnow()
    events = []
    rows = []
    for offset, (draft, payload) in enumerate(zip(drafts, encoded, strict=True)):
        event = Event(
            id=str(uuid.uuid4()), seq=last - len(drafts) + 1 + offset, tenant_id=tenant_id,
            topic=draft.topic, time=now,
            # A copy as the JSON column returns it, so the published event equals the
            # stored one even if the caller changes its dict afterwards.
            payload=json.loads(payload), audience=draft.audience,
            notification=draft.notification.as_json() if draft.notification else None,
        )
        rows.append({
            "id": event.id, "tenant_id": tenant_id, "seq": event.seq, "topic": event.topic,
            "time": now, "payload": event.payload, "notification": event.notification,
            "audience_users": sorted(draft.audience.users),
            "audience_roles": sorted(role.value for role in draft.audience.roles),
        })
        after_commit(session, functools.partial(bus.publish, event))
        events.append(event)
    # A Core INSERT: the rows are never read back in this transaction, and building ORM
    # objects for them would cost more than the INSERT.
    await (await core_connection(session)).execute(_INSERT_EVENT, rows)
    return events


def _encoded_payload(draft: EventDraft) -> str:
    check_topic(draft.topic)
    encoded = json.dumps(draft.payload, separators=(",", ":"))
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise InvalidInput(f"The payload of event {draft.topic!r} is {len(encoded)} bytes; "
                           f"the maximum is {MAX_PAYLOAD_BYTES}.", field="payload")
    return encoded


async def _next_seq(session: AsyncSession, tenant_id: int, count: int = 1) -> int:
    """Advance the tenant's counter by `count` and return its new value, the sequence
    number of the last of the `count` events."""
    seq = (await (await core_connection(session)).execute(
        _ADVANCE_COUNTER, {"tenant": tenant_id, "count": count})).scalar_one_or_none()
    if seq is None:
        raise InvalidInput(f"Tenant {tenant_id} has no event counter; was it created with "
                           "`python -m portal create-tenant`?", field="tenant_id")
    return int(seq)


async def events_after(
    session: AsyncSession, tenant_id: int, after: int, *, limit: int = 500,
) -> Sequence[Event]:
    statement = (
        select(EventRecord)
        .where(EventRecord.tenant_id == tenant_id, EventRecord.seq > after)
        .order_by(col(EventRecord.seq))
        .limit(limit)
    )
    return [Event.from_record(record) for record in (await session.exec(statement)).all()]


async def last_seq(session: AsyncSession, tenant_id: int) -> int:
    counter = await session.get(EventCounter, tenant_id)
    return counter.last_seq if counter is not None else 0


async def oldest_seq(session: AsyncSession, tenant_id: int) -> int | None:
    statement = select(func.min(EventRecord.seq)).where(EventRecord.tenant_id == tenant_id)
    return (await session.exec(statement)).one()


async def do_prune_events(session: AsyncSession, *, keep: int) -> int:
    """Delete all but the newest `keep` events of every tenant; return how many went."""
    deleted = 0
    for counter in (await session.exec(select(EventCounter))).all():
        result = await session.exec(delete(EventRecord).where(
            col(EventRecord.tenant_id) == counter.tenant_id,
            col(EventRecord.seq) <= counter.last_seq - keep))
        deleted += result.rowcount or 0
    if deleted:
        logger.info("Pruned %s old events", deleted)
    return deleted
