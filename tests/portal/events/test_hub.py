"""The hub's parts against a real event log: pumps, connections and their queues.

Sockets are replaced by `FakeDesktop`, which records what the hub sends and can stop
taking messages the way a desktop that stops reading does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.auth.sessions import Principal
from portal.db import Database
from portal.events import log
from portal.events.bus import InProcessBus
from portal.events.hub import CLOSE_TOO_SLOW, Connection, ConnectionState, Hub, TenantPump
from portal.events.model import Audience, Event
from portal.models import Role
from tests.portal.events.conftest import CreateTenant

Message = dict[str, Any]


class FakeDesktop:
    """Records the messages and the close the hub sends. `stall` makes sends wait."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.closed: tuple[int, str] | None = None
        self._taking = asyncio.Event()
        self._taking.set()

    async def send_text(self, text: str) -> None:
        await self._taking.wait()
        self.messages.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def stall(self) -> None:
        self._taking.clear()

    def resume(self) -> None:
        self._taking.set()

    def seqs(self) -> list[int]:
        return [message["event"]["seq"] for message in self.messages
                if message["type"] == "event"]

    def of_type(self, kind: str) -> list[Message]:
        return [message for message in self.messages if message["type"] == kind]


def has_ready(desktop: FakeDesktop) -> bool:
    return bool(desktop.of_type("ready"))


async def wait_until(condition: Callable[[], bool], *, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds} s")
        await asyncio.sleep(0.005)


def principal(tenant_id: int, *, user_id: int = 1, role: Role = Role.AGENT) -> Principal:
    return Principal(user_id=user_id, tenant_id=tenant_id, tenant_slug="tenant",
                     tenant_name="Tenant", role=role, name="Test User",
                     email=f"user{user_id}@tenant.example", via="session")


def open_connection(desktop: FakeDesktop, who: Principal, *, queue_size: int = 16) -> Connection:
    connection = Connection(who, desktop.send_text, desktop.close, queue_size=queue_size)
    connection.start()
    return connection


async def stage(db: Database, bus: InProcessBus, tenant_id: int, *, count: int = 1,
                audience: Audience | None = None) -> list[Event]:
    """Commit `count` events in one transaction and return them."""
    events = []
    async with db.transaction() as session:
        for _ in range(count):
            events.append(await log.stage_event(
                session, bus, tenant_id=tenant_id, topic="hello.greeting",
                payload={"text": "hi"}, audience=audience or Audience.of(roles=[Role.AGENT])))
    return events


@pytest.fixture
async def pumps(db: Database) -> AsyncIterator[Callable[[int], TenantPump]]:
    """Return a function that starts a pump for a tenant. Every pump stops afterwards."""
    started: list[TenantPump] = []

    def start(tenant_id: int) -> TenantPump:
        pump = TenantPump(tenant_id, db, last_dispatched=0)
        started.append(pump)
        return pump

    yield start
    for pump in started:
        for connection in list(pump.connections):
            await connection.stop()
        await pump.stop()


async def test_pump_orders_out_of_order_notifications(
        db: Database, create_tenant: CreateTenant,
        pumps: Callable[[int], TenantPump]) -> None:
    tenant_id = await create_tenant()
    pump = pumps(tenant_id)
    desktop = FakeDesktop()
    await pump.attach(open_connection(desktop, principal(tenant_id)), 0)
    silent_bus = InProcessBus()
    events = [event for _ in range(3) for event in await stage(db, silent_bus, tenant_id)]

    pump.notify(events[2])
    await wait_until(lambda: len(desktop.seqs()) >= 3)
    pump.notify(events[0])
    pump.notify(events[1])
    pump.notify(events[2])
    # A later event flushes anything the stale notifications could still cause.
    pump.notify((await stage(db, silent_bus, tenant_id))[0])
    await wait_until(lambda: len(desktop.seqs()) >= 4)

    assert desktop.seqs() == [1, 2, 3, 4]


async def test_pump_orders_notifications_arriving_together(
        db: Database, create_tenant: CreateTenant,
        pumps: Callable[[int], TenantPump]) -> None:
    tenant_id = await create_tenant()
    pump = pumps(tenant_id)
    desktop = FakeDesktop()
    await pump.attach(open_connection(desktop, principal(tenant_id)), 0)
    silent_bus = InProcessBus()
    events = [event for _ in range(4) for event in await stage(db, silent_bus, tenant_id)]

    for index in (3, 1, 0, 2, 1):
        pump.notify(events[index])
    await wait_until(lambda: len(desktop.seqs()) >= 4)

    assert desktop.seqs() == [1, 2, 3, 4]


class CountingDatabase(Database):
    """A Database that counts the read sessions it opens."""

    reads = 0

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        self.reads += 1
        async with super().read() as session:
            yield session


async def test_pump_skips_log_for_consecutive_events(
        db: Database, create_tenant: CreateTenant) -> None:
    tenant_id = await create_tenant()
    counting = CountingDatabase(db.url)
    pump = TenantPump(tenant_id, counting, last_dispatched=0)
    desktop = FakeDesktop()
    try:
        await pump.attach(open_connection(desktop, principal(tenant_id)), 0)
        bus = InProcessBus()
        bus.subscribe(pump.notify)
        reads_before = counting.reads
        for _ in range(5):
            await stage(db, bus, tenant_id)
        await wait_until(lambda: len(desktop.seqs()) >= 5)
    finally:
        for connection in list(pump.connections):
            await connection.stop()
        await pump.stop()
        await counting.dispose()

    assert desktop.seqs() == [1, 2, 3, 4, 5]
    assert counting.reads == reads_before


async def test_pump_reads_events_whose_notification_was_lost(
        db: Database, create_tenant: CreateTenant,
        pumps: Callable[[int], TenantPump]) -> None:
    tenant_id = await create_tenant()
    pump = pumps(tenant_id)
    desktop = FakeDesktop()
    await pump.attach(open_connection(desktop, principal(tenant_id)), 0)
    silent_bus = InProcessBus()
    await stage(db, silent_bus, tenant_id, count=3)

    last = (await stage(db, silent_bus, tenant_id))[0]
    pump.notify(last)
    await wait_until(lambda: len(desktop.seqs()) >= 4)

    assert desktop.seqs() == [1, 2, 3, 4]
    assert pump.last_dispatched == 4


async def test_pump_ignores_notification_already_dispatched(
        db: Database, create_tenant: CreateTenant,
        pumps: Callable[[int], TenantPump]) -> None:
    tenant_id = await create_tenant()
    pump = pumps(tenant_id)
    desktop = FakeDesktop()
    await pump.attach(open_connection(desktop, principal(tenant_id)), 0)
    bus = InProcessBus()
    bus.subscribe(pump.notify)
    first = (await stage(db, bus, tenant_id))[0]
    await wait_until(lambda: desktop.seqs() == [1])

    pump.notify(first)
    await stage(db, bus, tenant_id)
    await wait_until(lambda: len(desktop.seqs()) >= 2)

    assert desktop.seqs() == [1, 2]


async def test_pump_burst_larger_than_queue_reaches_desktop(
        db: Database, create_tenant: CreateTenant,
        pumps: Callable[[int], TenantPump]) -> None:
    tenant_id = await create_tenant()
    pump = pumps(tenant_id)
    desktop = FakeDesktop()
    connection = open_connection(desktop, principal(tenant_id), queue_size=4)
    await pump.attach(connection, 0)
    bus = InProcessBus()
    bus.subscribe(pump.notify)

    await stage(db, bus, tenant_id, count=20)
    await wait_until(lambda: len(desktop.seqs()) >= 20)

    assert desktop.seqs() == list(range(1, 21))
    assert desktop.closed is None
    assert connection.state is ConnectionState.LIVE


async def test_pump_closes_stalled_desktop_and_serves_others(
        db: Database, create_tenant: CreateTenant,
        pumps: Callable[[int], TenantPump]) -> None:
    tenant_id = await create_tenant()
    pump = pumps(tenant_id)
    stalled, healthy = FakeDesktop(), FakeDesktop()
    stalled_connection = open_connection(stalled, principal(tenant_id, user_id=1),
                                         queue_size=4)
    await pump.attach(stalled_connection, 0)
    await pump.attach(open_connection(healthy, principal(tenant_id, user_id=2),
                                      queue_size=4), 0)
    await wait_until(lambda: bool(stalled.of_type("ready")))
    bus = InProcessBus()
    bus.subscribe(pump.notify)

    stalled.stall()
    for _ in range(10):
        await stage(db, bus, tenant_id)
    await wait_until(lambda: len(healthy.seqs()) >= 10)
    await wait_until(lambda: stalled.closed is not None)

    assert healthy.seqs() == list(range(1, 11))
    assert healthy.closed is None
    assert stalled.closed is not None
    assert stalled.closed[0] == CLOSE_TOO_SLOW
    assert stalled_connection.state is ConnectionState.CLOSED
    assert stalled.seqs() == []


async def test_attach_replays_backlog_larger_than_queue(
        db: Database, create_tenant: CreateTenant,
        pumps: Callable[[int], TenantPump]) -> None:
    tenant_id = await create_tenant()
    await stage(db, InProcessBus(), tenant_id, count=30)
    pump = pumps(tenant_id)
    desktop = FakeDesktop()
    pump.wake()

    await pump.attach(open_connection(desktop, principal(tenant_id), queue_size=4), 0)
    await wait_until(lambda: bool(desktop.of_type("ready")))

    assert desktop.seqs() == list(range(1, 31))
    assert desktop.messages[-1] == {"type": "ready", "last_seq": 30, "complete": True}
    assert desktop.closed is None


async def test_attach_resumes_after_given_seq(
        db: Database, create_tenant: CreateTenant,
        pumps: Callable[[int], TenantPump]) -> None:
    tenant_id = await create_tenant()
    await stage(db, InProcessBus(), tenant_id, count=6)
    pump = pumps(tenant_id)
    desktop = FakeDesktop()

    await pump.attach(open_connection(desktop, principal(tenant_id)), 4)
    await wait_until(lambda: bool(desktop.of_type("ready")))

    assert desktop.seqs() == [5, 6]
    assert desktop.messages[-1] == {"type": "ready", "last_seq": 6, "complete": True}


async def test_attach_sends_only_the_users_audience(
        db: Database, create_tenant: CreateTenant,
        pumps: Callable[[int], TenantPump]) -> None:
    tenant_id = await create_tenant()
    bus = InProcessBus()
    audiences = [
        Audience.of(users=[1]),             # seq 1: this user
        Audience.of(users=[2]),             # seq 2: another user
        Audience.of(roles=[Role.AGENT]),    # seq 3: this user's role
        Audience.of(roles=[Role.ADMIN]),    # seq 4: another role
        Audience.of(users=[2], roles=[Role.CUSTOMER, Role.AGENT]),  # seq 5: by role
    ]
    for audience in audiences:
        await stage(db, bus, tenant_id, audience=audience)
    pump = pumps(tenant_id)
    desktop = FakeDesktop()

    await pump.attach(open_connection(desktop, principal(tenant_id, user_id=1)), 0)
    await wait_until(lambda: bool(desktop.of_type("ready")))

    assert desktop.seqs() == [1, 3, 5]
    assert desktop.messages[-1]["last_seq"] == 5


async def test_attach_reports_pruned_events_incomplete(
        db: Database, create_tenant: CreateTenant,
        pumps: Callable[[int], TenantPump]) -> None:
    tenant_id = await create_tenant()
    await stage(db, InProcessBus(), tenant_id, count=5)
    async with db.transaction() as session:
        await log.do_prune_events(session, keep=2)
    pump = pumps(tenant_id)
    readies = {}

    for after in (1, 2, 3, 5):
        desktop = FakeDesktop()
        await pump.attach(open_connection(desktop, principal(tenant_id)), after)
        await wait_until(partial(has_ready, desktop))
        readies[after] = (desktop.seqs(), desktop.of_type("ready")[0]["complete"])

    assert readies[1] == ([4, 5], False)
    assert readies[2] == ([4, 5], False)
    assert readies[3] == ([4, 5], True)
    assert readies[5] == ([], True)


async def test_attach_during_publishing_is_exact(
        db: Database, create_tenant: CreateTenant,
        pumps: Callable[[int], TenantPump]) -> None:
    tenant_id = await create_tenant()
    await stage(db, InProcessBus(), tenant_id, count=40)
    pump = pumps(tenant_id)
    bus = InProcessBus()
    bus.subscribe(pump.notify)
    desktop = FakeDesktop()

    async def publish() -> None:
        for _ in range(20):
            await stage(db, bus, tenant_id)

    await asyncio.gather(
        pump.attach(open_connection(desktop, principal(tenant_id), queue_size=2), 0),
        publish())
    await wait_until(lambda: len(desktop.seqs()) >= 60)
    ready_index = desktop.messages.index(desktop.of_type("ready")[0])
    ready_seq = desktop.messages[ready_index]["last_seq"]

    assert desktop.seqs() == list(range(1, 61))
    assert desktop.closed is None
    assert [message["event"]["seq"] for message in desktop.messages[:ready_index]] == \
        list(range(1, ready_seq + 1))


async def test_connection_full_queue_closes_with_1013() -> None:
    desktop = FakeDesktop()
    desktop.stall()
    connection = open_connection(desktop, principal(1), queue_size=2)

    for index in range(4):
        connection.offer_message({"type": "test", "index": index})
    await wait_until(lambda: desktop.closed is not None)
    connection.offer_message({"type": "test", "index": 4})
    desktop.resume()
    await connection.stop()

    assert desktop.closed is not None
    assert desktop.closed[0] == CLOSE_TOO_SLOW
    assert connection.state is ConnectionState.CLOSED
    assert desktop.messages == []


async def test_connection_close_after_sending_sends_queue_first() -> None:
    desktop = FakeDesktop()
    connection = open_connection(desktop, principal(1))

    for index in range(3):
        connection.offer_message({"type": "error", "index": index})
    await connection.close_after_sending(1008, "too many invalid messages")

    assert [message["index"] for message in desktop.messages] == [0, 1, 2]
    assert desktop.closed == (1008, "too many invalid messages")
    assert connection.state is ConnectionState.CLOSED


async def test_connection_go_live_twice_is_rejected() -> None:
    connection = open_connection(FakeDesktop(), principal(1))
    connection.go_live()

    with pytest.raises(RuntimeError):
        connection.go_live()
    await connection.stop()


async def test_hub_heartbeat_recovers_lost_notification(
        db: Database, create_tenant: CreateTenant) -> None:
    tenant_id = await create_tenant()
    hub_bus = InProcessBus()
    hub = Hub(db, hub_bus, queue_size=16, heartbeat_seconds=0.05)
    await hub.start()
    desktop = FakeDesktop()
    try:
        connection = hub.new_connection(principal(tenant_id), desktop.send_text, desktop.close)
        await hub.attach(connection, 0)
        # Published on a bus the hub does not listen to, as if the notification was lost.
        await stage(db, InProcessBus(), tenant_id)
        await wait_until(lambda: desktop.seqs() == [1])
        await wait_until(lambda: bool(desktop.of_type("heartbeat")))
        heartbeat = desktop.of_type("heartbeat")[0]
    finally:
        await hub.stop()

    assert desktop.seqs() == [1]
    assert set(heartbeat) == {"type", "time"}
    assert heartbeat["time"].endswith("Z")
    assert hub.connection_count == 0


async def test_hub_delivers_to_its_tenant_only(
        db: Database, create_tenant: CreateTenant) -> None:
    first, second = await create_tenant(), await create_tenant()
    bus = InProcessBus()
    hub = Hub(db, bus, queue_size=16, heartbeat_seconds=60)
    await hub.start()
    desktops = {first: FakeDesktop(), second: FakeDesktop()}
    try:
        for tenant_id, desktop in desktops.items():
            connection = hub.new_connection(principal(tenant_id, user_id=tenant_id),
                                            desktop.send_text, desktop.close)
            await hub.attach(connection, 0)
        assert hub.connection_count == 2
        await stage(db, bus, first, count=2)
        await stage(db, bus, second)
        await wait_until(lambda: len(desktops[first].seqs()) >= 2)
        await wait_until(lambda: len(desktops[second].seqs()) >= 1)
    finally:
        await hub.stop()

    first_events = [message["event"] for message in desktops[first].of_type("event")]
    second_events = [message["event"] for message in desktops[second].of_type("event")]
    assert [(event["tenant"], event["seq"]) for event in first_events] == \
        [(first, 1), (first, 2)]
    assert [(event["tenant"], event["seq"]) for event in second_events] == [(second, 1)]
