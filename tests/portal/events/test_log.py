"""The event log: events are stored in the causing transaction and published after it."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func
from sqlmodel import col, select

from portal.db import Database
from portal.errors import InvalidInput
from portal.events import log
from portal.events.bus import InProcessBus
from portal.events.model import MAX_PAYLOAD_BYTES, Audience, Event, EventDraft, Notification
from portal.models import EventCounter, EventRecord, Role
from tests.portal.events.conftest import CreateTenant


class Rollback(Exception):
    """Raised inside a transaction to make it roll back."""


def recording_bus() -> tuple[InProcessBus, list[Event]]:
    bus = InProcessBus()
    published: list[Event] = []
    bus.subscribe(published.append)
    return bus, published


async def stage_greeting(db: Database, bus: InProcessBus, tenant_id: int, *,
                         text: str = "hi", fail: bool = False) -> Event:
    async with db.transaction() as session:
        event = await log.stage_event(
            session, bus, tenant_id=tenant_id, topic="hello.greeting",
            payload={"text": text}, audience=Audience.of(roles=[Role.AGENT]))
        if fail:
            raise Rollback
    return event


async def stored_rows(db: Database, tenant_id: int) -> list[EventRecord]:
    async with db.read() as session:
        statement = (select(EventRecord).where(EventRecord.tenant_id == tenant_id)
                     .order_by(col(EventRecord.seq)))
        return list((await session.exec(statement)).all())


async def test_stage_event_publishes_once_after_commit(
        db: Database, create_tenant: CreateTenant) -> None:
    tenant_id = await create_tenant()
    bus, published = recording_bus()

    async with db.transaction() as session:
        event = await log.stage_event(
            session, bus, tenant_id=tenant_id, topic="hello.greeting",
            payload={"text": "hi"}, audience=Audience.of(users=[7]))
        published_before_commit = list(published)

    assert published_before_commit == []
    assert published == [event]
    assert [row.id for row in await stored_rows(db, tenant_id)] == [event.id]


async def test_stage_event_rollback_publishes_nothing(
        db: Database, create_tenant: CreateTenant) -> None:
    tenant_id = await create_tenant()
    bus, published = recording_bus()

    with pytest.raises(Rollback):
        await stage_greeting(db, bus, tenant_id, fail=True)

    assert published == []
    assert await stored_rows(db, tenant_id) == []
    async with db.read() as session:
        assert await log.last_seq(session, tenant_id) == 0


async def test_stage_event_after_rollback_takes_next_seq(
        db: Database, create_tenant: CreateTenant) -> None:
    tenant_id = await create_tenant()
    bus, published = recording_bus()

    first = await stage_greeting(db, bus, tenant_id)
    with pytest.raises(Rollback):
        await stage_greeting(db, bus, tenant_id, fail=True)
    second = await stage_greeting(db, bus, tenant_id)

    assert [event.seq for event in published] == [1, 2]
    assert (first.seq, second.seq) == (1, 2)


async def test_stage_event_json_has_documented_fields(
        db: Database, create_tenant: CreateTenant) -> None:
    tenant_id = await create_tenant()
    bus, published = recording_bus()
    notification = Notification(title="Hello", body="Ada says hi", open_app="hello",
                                open_window="main", open_params={"greeting": "4"})

    async with db.transaction() as session:
        await log.stage_event(session, bus, tenant_id=tenant_id, topic="hello.greeting",
                              payload={"text": "Hi"}, audience=Audience.of(users=[3]),
                              notification=notification)
    shape = published[0].as_json()

    assert set(shape) == {"id", "seq", "tenant", "topic", "time", "payload", "notification"}
    assert len(shape["id"]) == 36
    assert shape["seq"] == 1
    assert shape["tenant"] == tenant_id
    assert shape["topic"] == "hello.greeting"
    assert shape["payload"] == {"text": "Hi"}
    assert shape["notification"] == {
        "title": "Hello", "body": "Ada says hi",
        "open": {"app": "hello", "window": "main", "params": {"greeting": "4"}}}
    assert shape["time"].endswith("Z")
    sent_at = datetime.fromisoformat(shape["time"])
    assert abs(datetime.now(UTC) - sent_at) < timedelta(minutes=1)


async def test_stage_event_reads_back_as_published(
        db: Database, create_tenant: CreateTenant) -> None:
    tenant_id = await create_tenant()
    bus, published = recording_bus()

    await stage_greeting(db, bus, tenant_id, text="same both ways")
    async with db.read() as session:
        stored = await log.events_after(session, tenant_id, 0)

    assert [event.as_json() for event in stored] == [published[0].as_json()]
    assert stored[0].audience == Audience.of(roles=[Role.AGENT])


async def test_stage_event_rejects_invalid_topic(
        db: Database, create_tenant: CreateTenant) -> None:
    tenant_id = await create_tenant()
    bus, published = recording_bus()

    with pytest.raises(InvalidInput) as raised:
        async with db.transaction() as session:
            await log.stage_event(session, bus, tenant_id=tenant_id, topic="Hello Greeting",
                                  payload={}, audience=Audience.of(users=[1]))

    assert "'Hello Greeting'" in raised.value.message
    assert raised.value.field == "topic"
    assert published == []


async def test_stage_event_rejects_oversized_payload(
        db: Database, create_tenant: CreateTenant) -> None:
    tenant_id = await create_tenant()
    bus, published = recording_bus()

    with pytest.raises(InvalidInput) as raised:
        async with db.transaction() as session:
            await log.stage_event(session, bus, tenant_id=tenant_id, topic="hello.greeting",
                                  payload={"text": "x" * MAX_PAYLOAD_BYTES},
                                  audience=Audience.of(users=[1]))

    assert raised.value.field == "payload"
    assert published == []
    assert await stored_rows(db, tenant_id) == []


async def test_stage_event_seq_has_no_gaps_under_concurrency(
        db: Database, create_tenant: CreateTenant) -> None:
    tenants = [await create_tenant(), await create_tenant()]
    bus, published = recording_bus()

    async def publish(index: int) -> None:
        tenant_id = tenants[index % 2]
        # Every fifth transaction rolls back after taking a number; it must leave no gap.
        fail = index % 5 == 4
        with contextlib.suppress(Rollback):
            await stage_greeting(db, bus, tenant_id, text=f"greeting {index}", fail=fail)

    await asyncio.gather(*(publish(index) for index in range(100)))

    for tenant_id in tenants:
        seqs = [event.seq for event in published if event.tenant_id == tenant_id]
        assert sorted(seqs) == list(range(1, 41))
        rows = await stored_rows(db, tenant_id)
        assert [row.seq for row in rows] == list(range(1, 41))
        # Numbers are taken under the write lock, so their order is the staging order.
        times = [row.time for row in rows]
        assert times == sorted(times)
        async with db.read() as session:
            counter = await session.get(EventCounter, tenant_id)
        assert counter is not None
        assert counter.last_seq == 40


async def test_stage_events_takes_consecutive_seqs_in_one_update(
        db: Database, create_tenant: CreateTenant) -> None:
    """Three drafts get the next three numbers in the order given, with one counter
    UPDATE, and are published in that order after the commit."""
    tenant_id = await create_tenant()
    bus, published = recording_bus()
    await stage_greeting(db, bus, tenant_id, text="before")
    drafts = [EventDraft(topic="hello.greeting", payload={"text": str(index)},
                         audience=Audience.of(users=[index + 1])) for index in range(3)]
    updates: list[str] = []

    def count_updates(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("UPDATE portal_event_counter"):
            updates.append(statement)

    sa_event.listen(db.engine.sync_engine, "before_cursor_execute", count_updates)
    try:
        async with db.transaction() as session:
            events = await log.stage_events(session, bus, tenant_id=tenant_id,
                                            drafts=drafts)
    finally:
        sa_event.remove(db.engine.sync_engine, "before_cursor_execute", count_updates)

    assert len(updates) == 1
    assert [event.seq for event in events] == [2, 3, 4]
    assert [event.payload["text"] for event in events] == ["0", "1", "2"]
    assert [event.audience.users for event in events] == [{1}, {2}, {3}]
    assert published[1:] == events
    assert [row.seq for row in await stored_rows(db, tenant_id)] == [1, 2, 3, 4]


async def test_stage_events_checks_every_draft_before_writing(
        db: Database, create_tenant: CreateTenant) -> None:
    """One bad draft stages none: no number is taken and nothing is published."""
    tenant_id = await create_tenant()
    bus, published = recording_bus()
    drafts = [EventDraft(topic="hello.greeting", payload={"text": "fine"},
                         audience=Audience.of(users=[1])),
              EventDraft(topic="hello.greeting", payload={"text": "x" * MAX_PAYLOAD_BYTES},
                         audience=Audience.of(users=[1]))]

    async with db.transaction() as session:
        with pytest.raises(InvalidInput) as raised:
            await log.stage_events(session, bus, tenant_id=tenant_id, drafts=drafts)
        counter = await session.get(EventCounter, tenant_id)

    assert raised.value.field == "payload"
    assert counter is not None
    assert counter.last_seq == 0
    assert published == []
    assert await stored_rows(db, tenant_id) == []


async def test_events_after_returns_one_tenant_in_seq_order(
        db: Database, create_tenant: CreateTenant) -> None:
    first, second = await create_tenant(), await create_tenant()
    bus, _ = recording_bus()
    for index in range(6):
        await stage_greeting(db, bus, first if index % 3 else second, text=str(index))

    async with db.read() as session:
        after_one = await log.events_after(session, first, 1)
        limited = await log.events_after(session, first, 0, limit=2)
        past_end = await log.events_after(session, first, 4)

    assert [event.seq for event in after_one] == [2, 3, 4]
    assert {event.tenant_id for event in after_one} == {first}
    assert [event.seq for event in limited] == [1, 2]
    assert past_end == []


async def test_do_prune_events_keeps_newest_per_tenant(
        db: Database, create_tenant: CreateTenant) -> None:
    first, second = await create_tenant(), await create_tenant()
    bus, _ = recording_bus()
    for _ in range(5):
        await stage_greeting(db, bus, first)
    await stage_greeting(db, bus, second)

    async with db.transaction() as session:
        deleted = await log.do_prune_events(session, keep=2)

    assert deleted == 3
    assert [row.seq for row in await stored_rows(db, first)] == [4, 5]
    assert [row.seq for row in await stored_rows(db, second)] == [1]
    async with db.read() as session:
        assert await log.oldest_seq(session, first) == 4
        assert await log.last_seq(session, first) == 5
        total = (await session.exec(select(func.count()).select_from(EventRecord))).one()
    assert total == 3


async def test_stage_event_unknown_tenant_is_invalid(db: Database) -> None:
    bus, published = recording_bus()

    with pytest.raises(InvalidInput) as raised:
        await stage_greeting(db, bus, 999)

    assert "999" in raised.value.message
    assert published == []
