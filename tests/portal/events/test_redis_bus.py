"""The Redis bus against a real Redis server: events cross between bus instances as they
cross between processes, and a lost subscription is reported so the hub reads the log.

Redis runs in the PostgreSQL pass of scripts/test (MIPORTAL_TEST_BUS_URL); the URL
parsing tests run in both passes.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as redis

from portal.events.bus import create_bus
from portal.events.model import Audience, Event
from portal.events.redis_bus import (
    RedisBus,
    RedisBusError,
    decode_event,
    encode_event,
    redacted,
    split_bus_url,
)
from portal.models import Role
from tests.support import TEST_BUS_URL

needs_redis = pytest.mark.skipif(not TEST_BUS_URL, reason="needs MIPORTAL_TEST_BUS_URL; "
                                 "scripts/test sets it in its PostgreSQL pass")
TIMEOUT = 10.0


def make_event(seq: int, *, tenant_id: int = 1) -> Event:
    return Event(id=f"event-{seq}", seq=seq, tenant_id=tenant_id, topic="hello.greeting",
                 time=datetime.now(UTC), payload={"seq": seq, "text": "héllo"},
                 audience=Audience.of(users=[3, 1], roles=[Role.AGENT]),
                 notification={"title": "Hello", "body": "", "open": None})


class Received:
    """A subscriber that lets a test wait for a number of events."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, count: int) -> list[Event]:
        async with asyncio.timeout(TIMEOUT):
            while len(self.events) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.events


@pytest.fixture
async def channel_url() -> str:
    """The test Redis with a channel of this test's own."""
    separator = "&" if "?" in TEST_BUS_URL else "?"
    return f"{TEST_BUS_URL}{separator}channel=test-{uuid.uuid4().hex}"


@pytest.fixture
async def buses(channel_url: str) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    """Two buses on one channel, as two portal processes have."""
    first, second = RedisBus(channel_url), RedisBus(channel_url)
    await first.start()
    await second.start()
    yield first, second
    await first.stop()
    await second.stop()


def test_split_bus_url_takes_channel() -> None:
    url, channel = split_bus_url("redis://cache.internal:6380/2?channel=portal-b")

    assert url == "redis://cache.internal:6380/2"
    assert channel == "portal-b"


def test_split_bus_url_default_channel() -> None:
    assert split_bus_url("redis://cache.internal/0") == ("redis://cache.internal/0",
                                                         "miportal")


def test_split_bus_url_invalid_scheme_rejected() -> None:
    with pytest.raises(RedisBusError, match="http"):
        split_bus_url("http://cache.internal/0")


def test_redacted_hides_password() -> None:
    assert redacted("redis://user:s3cret@cache.internal/0") == "redis://user:***@cache.internal/0"


def test_event_encoding_round_trip() -> None:
    event = make_event(7)

    assert decode_event(json.loads(encode_event(event, "origin"))) == event


def test_create_bus_redis_url_gives_redis_bus() -> None:
    assert isinstance(create_bus("redis://127.0.0.1:6379/0"), RedisBus)


@needs_redis
async def test_redis_bus_event_reaches_other_bus(buses: tuple[RedisBus, RedisBus]) -> None:
    first, second = buses
    received = Received()
    second.subscribe(received)

    await first.publish(make_event(1))
    await first.publish(make_event(2))

    events = await received.wait_for(2)
    assert [event.seq for event in events] == [1, 2]
    assert events[0].payload == {"seq": 1, "text": "héllo"}
    assert events[0].audience == Audience.of(users=[1, 3], roles=[Role.AGENT])


@needs_redis
async def test_redis_bus_own_event_delivered_once(buses: tuple[RedisBus, RedisBus]) -> None:
    first, second = buses
    own = Received()
    other = Received()
    first.subscribe(own)
    second.subscribe(other)

    await first.publish(make_event(1))
    await other.wait_for(1)
    # Redis delivers in order, so the echo of event 1 reaches `first` before event 2.
    await second.publish(make_event(2))
    await own.wait_for(2)

    assert [event.seq for event in own.events] == [1, 2]


@needs_redis
async def test_redis_bus_lost_subscription_reported(channel_url: str) -> None:
    bus = RedisBus(channel_url)
    await bus.start()
    missed = asyncio.Event()
    bus.on_missed(missed.set)
    received = Received()
    bus.subscribe(received)
    try:
        async with redis.from_url(split_bus_url(channel_url)[0]) as admin:
            killed = await admin.client_kill_filter(_type="pubsub")
        assert killed >= 1
        await asyncio.wait_for(missed.wait(), TIMEOUT)
        async with redis.from_url(split_bus_url(channel_url)[0]) as publisher:
            await publisher.publish(bus.channel, encode_event(make_event(5), "elsewhere"))

        events = await received.wait_for(1)
    finally:
        await bus.stop()

    assert [event.seq for event in events] == [5]


@needs_redis
async def test_redis_bus_unreachable_server_rejected() -> None:
    bus = RedisBus("redis://127.0.0.1:1/0")

    with pytest.raises(RedisBusError, match="Cannot reach the Redis bus"):
        await bus.start()
