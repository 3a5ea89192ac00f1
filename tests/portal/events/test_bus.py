"""The in-process bus: every subscriber gets every event, whatever the others do."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from portal.events.bus import InProcessBus, create_bus
from portal.events.model import Audience, Event


def make_event(seq: int) -> Event:
    return Event(id=f"event-{seq}", seq=seq, tenant_id=1, topic="hello.greeting",
                 time=datetime.now(UTC), payload={"seq": seq}, audience=Audience.of(users=[1]))


def failing_subscriber(event: Event) -> None:
    raise ValueError(f"subscriber broke on {event.id}")


async def test_bus_failing_subscriber_spares_the_others(
        caplog: pytest.LogCaptureFixture) -> None:
    bus = InProcessBus()
    before: list[Event] = []
    after: list[Event] = []
    bus.subscribe(before.append)
    bus.subscribe(failing_subscriber)
    bus.subscribe(after.append)

    with caplog.at_level(logging.ERROR, logger="portal.events.bus"):
        await bus.publish(make_event(1))
        await bus.publish(make_event(2))

    assert [event.seq for event in before] == [1, 2]
    assert [event.seq for event in after] == [1, 2]
    failures = [record for record in caplog.records if record.exc_info]
    assert len(failures) == 2
    assert "event-1" in failures[0].getMessage()


async def test_bus_unsubscribe_stops_delivery() -> None:
    bus = InProcessBus()
    received: list[Event] = []
    unsubscribe = bus.subscribe(received.append)

    await bus.publish(make_event(1))
    unsubscribe()
    unsubscribe()
    await bus.publish(make_event(2))

    assert [event.seq for event in received] == [1]


async def test_bus_subscriber_may_unsubscribe_while_called() -> None:
    bus = InProcessBus()
    received: list[Event] = []
    unsubscribe_first = None

    def first(event: Event) -> None:
        assert unsubscribe_first is not None
        unsubscribe_first()

    unsubscribe_first = bus.subscribe(first)
    bus.subscribe(received.append)
    await bus.publish(make_event(1))
    await bus.publish(make_event(2))

    assert [event.seq for event in received] == [1, 2]


async def test_bus_stop_drops_subscribers() -> None:
    bus = InProcessBus()
    received: list[Event] = []
    bus.subscribe(received.append)

    await bus.start()
    await bus.stop()
    await bus.publish(make_event(1))

    assert received == []


def test_create_bus_memory_url() -> None:
    assert isinstance(create_bus("memory://"), InProcessBus)


def test_create_bus_unknown_url_names_it() -> None:
    with pytest.raises(SystemExit) as raised:
        create_bus("kafka://broker")

    assert "'kafka://broker'" in str(raised.value)
