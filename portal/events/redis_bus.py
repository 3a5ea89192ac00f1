"""The Redis event bus: carries committed events between portal processes.

Every process publishes each event to one Redis pub/sub channel and subscribes to it.
Redis pub/sub delivers at most once: a message sent while a subscriber is disconnected
is lost. That costs delay, never an event, because the hub treats the bus as a wake-up
signal: a pump reads the event log whenever the sequence numbers it receives leave a
gap, at every heartbeat, and whenever this bus reports that it resubscribed.

Events of the publishing process reach its own subscribers directly, before Redis sees
them, so a desktop on the same process as the writer does not wait for the round trip
and keeps working while Redis is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as redis
from redis.exceptions import RedisError

from portal.events.model import Audience, Event
from portal.models import Role

logger = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]
MissedListener = Callable[[], None]

DEFAULT_CHANNEL = "miportal"
# How long start() waits for Redis before the portal gives up starting.
START_TIMEOUT_SECONDS = 10.0
# Resubscribing after a lost connection backs off from the first to the second value.
RETRY_MIN_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0


class RedisBusError(RuntimeError):
    """Redis cannot be reached at start-up, or the bus URL is invalid."""


def split_bus_url(url: str) -> tuple[str, str]:
    """Split `redis://host:port/db?channel=NAME` into the URL for redis-py and the
    channel name (default "miportal"). Portals that share one Redis server but have
    different databases need different channel names."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise RedisBusError(f"Invalid Redis bus URL scheme {parts.scheme!r}: use "
                            "redis://HOST:PORT/DB, rediss:// for TLS or unix:///PATH.")
    query = parse_qsl(parts.query, keep_blank_values=True)
    channels = [value for key, value in query if key == "channel"]
    rest = [(key, value) for key, value in query if key != "channel"]
    channel = channels[-1] if channels and channels[-1] else DEFAULT_CHANNEL
    return urlunsplit(parts._replace(query=urlencode(rest))), channel


def redacted(url: str) -> str:
    """Return `url` without its password, for log lines and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def encode_event(event: Event, origin: str) -> str:
    return json.dumps({
        "origin": origin, "id": event.id, "seq": event.seq, "tenant": event.tenant_id,
        "topic": event.topic, "time": event.time.isoformat(), "payload": event.payload,
        "notification": event.notification,
        "users": sorted(event.audience.users),
        "roles": sorted(role.value for role in event.audience.roles),
    }, separators=(",", ":"))


def decode_event(data: dict[str, Any]) -> Event:
    return Event(
        id=data["id"], seq=int(data["seq"]), tenant_id=int(data["tenant"]),
        topic=data["topic"], time=datetime.fromisoformat(data["time"]),
        payload=data["payload"], notification=data["notification"],
        audience=Audience(users=frozenset(int(user) for user in data["users"]),
                          roles=frozenset(Role(role) for role in data["roles"])),
    )


class RedisBus:
    """An event bus shared by every portal process that uses the same Redis channel."""

    def __init__(self, url: str) -> None:
        self._url, name = split_bus_url(url)
        self.channel = f"{name}:events"
        # Tells this process's own messages apart when Redis echoes them back.
        self._origin = uuid.uuid4().hex
        self._subscribers: list[Subscriber] = []
        self._missed_listeners: list[MissedListener] = []
        self._client: redis.Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._publish_failures = 0

    async def start(self) -> None:
        # NOTE: a refused connection fails a publish at once, but when connecting times
        # out instead (an unreachable host), each publish waits 2 s for every retry of
        # redis-py, and so does the request that wrote the event.
        self._client = redis.from_url(self._url, socket_keepalive=True,
                                      socket_connect_timeout=2)
        try:
            await asyncio.wait_for(self._client.ping(), START_TIMEOUT_SECONDS)
        except (RedisError, OSError, TimeoutError) as error:
            await self._client.aclose()
            raise RedisBusError(f"Cannot reach the Redis bus at {redacted(self._url)}: "
                                f"{error}; start Redis or fix --bus-url.") from error
        self._listener = asyncio.create_task(self._listen(), name="redis-bus-listener")
        # Subscribed before start() returns, so no event published after start is missed.
        try:
            await asyncio.wait_for(self._subscribed.wait(), START_TIMEOUT_SECONDS)
        except TimeoutError:
            await self.stop()
            raise RedisBusError(f"Subscribing to {self.channel} on {redacted(self._url)} "
                                f"timed out after {START_TIMEOUT_SECONDS} s; check the "
                                "Redis server's log.") from None
        logger.info("Redis event bus started on %s, channel %s", redacted(self._url),
                    self.channel)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._client is not None:
            await self._client.aclose()
        self._subscribers.clear()
        self._missed_listeners.clear()
        logger.info("Redis event bus stopped")

    async def publish(self, event: Event) -> None:
        self._deliver(event)
        message = encode_event(event, self._origin)
        try:
            if self._client is not None:
                await self._client.publish(self.channel, message)
            else:
                # A process that never starts the bus, such as the CLI, still wakes the
                # servers' desktops.
                async with redis.from_url(self._url, socket_connect_timeout=5) as client:
                    await client.publish(self.channel, message)
            self._publish_failures = 0
        except (RedisError, OSError) as error:
            # Other processes read the event from the log at their next heartbeat.
            self._publish_failures += 1
            if self._publish_failures == 1 or self._publish_failures % 100 == 0:
                logger.warning("Redis bus could not publish event %s of tenant %s (%s "
                               "failures in a row): %r", event.id, event.tenant_id,
                               self._publish_failures, error)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def on_missed(self, listener: MissedListener) -> Callable[[], None]:
        self._missed_listeners.append(listener)

        def remove() -> None:
            if listener in self._missed_listeners:
                self._missed_listeners.remove(listener)

        return remove

    def _deliver(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                logger.exception("Event subscriber %r failed on event %s", subscriber,
                                 event.id)

    def _receive(self, data: bytes) -> None:
        try:
            message = json.loads(data)
            if message.get("origin") == self._origin:
                return
            event = decode_event(message)
        except (ValueError, KeyError, TypeError):
            logger.warning("Redis bus ignored a malformed message on %s (%s bytes)",
                           self.channel, len(data))
            return
        self._deliver(event)

    async def _listen(self) -> None:
        assert self._client is not None
        delay = RETRY_MIN_SECONDS
        first = True
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                if not first:
                    logger.info("Redis bus resubscribed to %s", self.channel)
                    # Messages sent while unsubscribed are gone; the log has the events.
                    self._report_missed()
                first = False
                delay = RETRY_MIN_SECONDS
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._receive(message["data"])
            except (RedisError, OSError) as error:
                logger.warning("Redis bus lost its subscription to %s: %r; retrying in "
                               "%.1f s", self.channel, error, delay)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)

    def _report_missed(self) -> None:
        for listener in list(self._missed_listeners):
            try:
                listener()
            except Exception:
                logger.exception("Missed-message listener %r failed", listener)
