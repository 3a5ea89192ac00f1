"""The event bus: carries committed events to the WebSocket hub of every process.

The bus moves notifications only. The event log in the database is the source of
truth, so a backend may drop or reorder messages without losing events: the hub reads
anything it has not seen from the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from portal.events.model import Event

logger = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]


class EventBus(Protocol):
    """A publish/subscribe backend. `publish` reaches the subscribers of every process."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, event: Event) -> None: ...

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` in this process for every published event; return a function
        that unsubscribes."""
        ...

    def on_missed(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever this process may have missed published events, such
        as after a lost connection; return a function that removes it."""
        ...


class InProcessBus:
    """The bus of a single portal process: subscribers are called synchronously."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    async def start(self) -> None:
        logger.info("In-process event bus started")

    async def stop(self) -> None:
        self._subscribers.clear()
        logger.info("In-process event bus stopped")

    async def publish(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                logger.exception("Event subscriber %r failed on event %s", subscriber,
                                 event.id)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def on_missed(self, listener: Callable[[], None]) -> Callable[[], None]:
        # Calls within one process are never lost.
        return lambda: None


def is_memory_url(url: str) -> bool:
    return url in ("memory://", "", "memory")


def create_bus(url: str) -> EventBus:
    """Return the bus for `url`: memory:// for one process, redis://... for several."""
    if is_memory_url(url):
        return InProcessBus()
    if url.startswith(("redis://", "rediss://", "unix://")):
        # Imported here, so that a single process never loads the Redis client.
        from portal.events.redis_bus import RedisBus

        return RedisBus(url)
    raise SystemExit(f"Unsupported event bus URL {url!r}: use memory:// for one process "
                     "or redis://HOST:PORT/DB for several.")
