"""The durable sync outbox: apps stage documents in the transaction of their change,
and the pusher sends them in id order until the master acknowledges them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy import delete, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import after_commit, core_connection, utcnow
from portal.errors import InvalidInput
from portal.models import Tenant
from portal.sync.envelope import serialize_payload
from portal.sync.models import SINGLETON_ID, OutboxStatus, SyncMaster, SyncOutboxItem

logger = logging.getLogger(__name__)

# The largest payload one item may carry; an app keeps its documents below it (for
# example by sending large attachments by reference).
MAX_ITEM_BYTES = 2 * 1024 * 1024
MAX_STREAM = 100
# Session keys: whether a master is configured, and the items staged in the session.
_HAS_MASTER = "portal.sync.has_master"
_MASTER_EXISTS = sa_select(SyncMaster.id).where(  # type: ignore[call-overload]
    SyncMaster.id == SINGLETON_ID)
_STAGED_ITEMS = "portal.sync.staged_items"
# TODO: delivered items are kept forever; prune them after a retention time.


@dataclass(frozen=True)
class SyncState:
    """The push state of one stream (such as one ticket) of an app."""

    pending: int
    delivered: int
    oldest_pending_at: datetime | None
    last_delivered_at: datetime | None
    # The installation's last failed push, while this stream has pending items.
    last_error: str | None = None

    @property
    def state(self) -> str:
        """`pending`, `synced`, or `not_synced` (never staged)."""
        if self.pending:
            return "pending"
        return "synced" if self.delivered else "not_synced"


@dataclass(frozen=True)
class QueueHealth:
    depth: int
    oldest_pending_at: datetime | None
    delivered: int


@dataclass(frozen=True)
class OutgoingItem:
    id: int
    app_id: str
    stream: str
    workspace: str
    created_at: datetime
    body: str


class SyncGateway:
    """Stages documents and wakes the pusher after the commit."""

    def __init__(self) -> None:
        self.wake = asyncio.Event()

    async def has_master(self, session: AsyncSession) -> bool:
        """Return whether this installation pushes to a master. The lookup runs once per
        session and its result is kept in `session.info`, so an installation without a
        master pays one query per transaction, however many changes it stages."""
        known: bool | None = session.info.get(_HAS_MASTER)
        if known is None:
            # A Core query: `session.get` would flush the session first and build the row.
            found = await (await core_connection(session)).execute(_MASTER_EXISTS)
            known = found.first() is not None
            session.info[_HAS_MASTER] = known
        return known

    async def stage(self, session: AsyncSession, *, app_id: str, tenant_id: int,
                    stream: str, payload: etree._Element) -> int | None:
        """Add `payload` to the outbox in `session`'s transaction and return its item
        id, or return None when this installation has no master (nothing is staged)."""
        if not await self.has_master(session):
            return None
        body = _checked_body(payload, stream)
        item = SyncOutboxItem(tenant_id=tenant_id, app_id=app_id, stream=stream, body=body)
        session.add(item)
        await session.flush()
        after_commit(session, self._wake_up)
        assert item.id is not None
        # The session's identity map references rows weakly, so keeping the item here
        # saves `replace` a query.
        session.info.setdefault(_STAGED_ITEMS, {})[item.id] = item
        return item.id

    async def replace(self, session: AsyncSession, item_id: int,
                      payload: etree._Element) -> None:
        """Replace the payload of an item staged earlier in the same transaction, so
        that a change that touches a document twice sends its final state once."""
        item = session.info.get(_STAGED_ITEMS, {}).get(item_id)
        if item is None:
            item = await session.get(SyncOutboxItem, item_id)
        if item is None or item.status is not OutboxStatus.PENDING:
            raise InvalidInput(f"Sync item {item_id} is not pending; stage a new item.")
        item.body = _checked_body(payload, item.stream)
        session.add(item)
        await session.flush()

    async def _wake_up(self) -> None:
        self.wake.set()


def _checked_body(payload: etree._Element, stream: str) -> str:
    if not stream or len(stream) > MAX_STREAM:
        raise InvalidInput(f"Invalid sync stream {stream!r}: use 1 to {MAX_STREAM} "
                           "characters.", field="stream")
    body = serialize_payload(payload)
    if len(body.encode()) > MAX_ITEM_BYTES:
        raise InvalidInput(f"The sync document of stream {stream!r} has "
                           f"{len(body.encode())} bytes, more than {MAX_ITEM_BYTES}; send "
                           "large parts by reference.", field="payload")
    return body


async def next_items(session: AsyncSession, *, limit: int,
                     max_bytes: int) -> list[OutgoingItem]:
    """Return the oldest pending items, at most `limit` and about `max_bytes` of bodies
    (always at least one), in id order, which keeps every stream in order."""
    rows = (await session.exec(
        select(SyncOutboxItem, Tenant.slug)
        .join(Tenant, col(Tenant.id) == SyncOutboxItem.tenant_id)
        .where(SyncOutboxItem.status == OutboxStatus.PENDING)
        .order_by(col(SyncOutboxItem.id)).limit(limit))).all()
    items: list[OutgoingItem] = []
    size = 0
    for row, slug in rows:
        size += len(row.body)
        if items and size > max_bytes:
            break
        assert row.id is not None
        items.append(OutgoingItem(row.id, row.app_id, row.stream, slug, row.created_at,
                                  row.body))
    return items


async def do_mark_delivered(session: AsyncSession, item_ids: Iterable[int]) -> int:
    """Move acknowledged items from pending to delivered; return how many moved."""
    ids = list(item_ids)
    if not ids:
        return 0
    result = await session.exec(
        update(SyncOutboxItem)
        .where(col(SyncOutboxItem.id).in_(ids),
               col(SyncOutboxItem.status) == OutboxStatus.PENDING)
        .values(status=OutboxStatus.DELIVERED, delivered_at=utcnow())
        .execution_options(synchronize_session=False))
    return int(result.rowcount)


async def do_prune_delivered(session: AsyncSession, *, older_than: datetime) -> int:
    """Delete items delivered before `older_than` and return how many rows. The latest
    delivered item of each stream stays, so a stream still shows when it last reached
    the master; pending items always stay."""
    later = aliased(SyncOutboxItem)
    newer_delivered = (
        sa_select(col(later.id))
        .where(col(later.tenant_id) == col(SyncOutboxItem.tenant_id),
               col(later.app_id) == col(SyncOutboxItem.app_id),
               col(later.stream) == col(SyncOutboxItem.stream),
               col(later.status) == OutboxStatus.DELIVERED,
               col(later.id) > col(SyncOutboxItem.id))
        .exists())
    statement = (delete(SyncOutboxItem)
                 .where(col(SyncOutboxItem.status) == OutboxStatus.DELIVERED,
                        col(SyncOutboxItem.delivered_at) < older_than, newer_delivered)
                 .execution_options(synchronize_session=False))
    result: CursorResult[Any] = await session.exec(statement)
    return int(result.rowcount)


async def do_count_attempt(session: AsyncSession, item_ids: Iterable[int]) -> None:
    await session.exec(
        update(SyncOutboxItem).where(col(SyncOutboxItem.id).in_(list(item_ids)))
        .values(attempts=SyncOutboxItem.attempts + 1)
        .execution_options(synchronize_session=False))


async def stream_states(session: AsyncSession, *, tenant_id: int, app_id: str,
                        streams: Iterable[str]) -> dict[str, SyncState]:
    """Return the push state of each named stream (absent streams are `not_synced`)."""
    names = list(streams)
    states = {name: SyncState(0, 0, None, None) for name in names}
    if not names:
        return states
    # SQLAlchemy's own select: sqlmodel's overloads stop at four columns.
    statement: Any = (
        sa_select(col(SyncOutboxItem.stream), col(SyncOutboxItem.status), func.count(),
               func.min(SyncOutboxItem.created_at), func.max(SyncOutboxItem.delivered_at))
        .where(col(SyncOutboxItem.tenant_id) == tenant_id, col(SyncOutboxItem.app_id) == app_id,
               col(SyncOutboxItem.stream).in_(names))
        .group_by(col(SyncOutboxItem.stream), col(SyncOutboxItem.status)))
    rows = (await session.exec(statement)).all()
    for stream, status, count, oldest, delivered_at in rows:
        state = states[stream]
        if status == OutboxStatus.PENDING:
            state = SyncState(int(count), state.delivered, _aware(oldest),
                              state.last_delivered_at)
        else:
            state = SyncState(state.pending, int(count), state.oldest_pending_at,
                              _aware(delivered_at))
        states[stream] = state
    if any(state.pending for state in states.values()):
        master = await session.get(SyncMaster, SINGLETON_ID)
        if master is not None and master.last_error:
            states = {name: replace(state, last_error=master.last_error) if state.pending
                      else state for name, state in states.items()}
    return states


async def queue_health(session: AsyncSession, *, tenant_id: int | None = None) -> QueueHealth:
    """Return the depth and age of the pending queue, for one workspace or all."""
    pending = (select(func.count(), func.min(SyncOutboxItem.created_at))
               .where(SyncOutboxItem.status == OutboxStatus.PENDING))
    delivered = (select(func.count()).select_from(SyncOutboxItem)
                 .where(SyncOutboxItem.status == OutboxStatus.DELIVERED))
    if tenant_id is not None:
        pending = pending.where(SyncOutboxItem.tenant_id == tenant_id)
        delivered = delivered.where(SyncOutboxItem.tenant_id == tenant_id)
    depth, oldest = (await session.exec(pending)).one()
    done = (await session.exec(delivered)).one()
    return QueueHealth(int(depth), _aware(oldest), int(done))


def _aware(value: datetime | str | None) -> datetime | None:
    # Aggregates bypass the column type, so SQLite returns naive UTC text or datetimes.
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=utcnow().tzinfo)
