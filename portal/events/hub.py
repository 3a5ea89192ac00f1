"""The WebSocket hub: one connection per desktop, fed in sequence order per tenant.

Each tenant with connected desktops has a pump. When the bus reports an event, the pump
reads every event after the last one it dispatched from the event log and hands each to
the connections whose user may see it. A connection has a bounded send queue; one that
falls too far behind is closed with code 1013 and resumes from its last sequence number
when the desktop reconnects, so a slow browser never stalls the others and misses
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from portal.auth.sessions import Principal
from portal.db import Database, utcnow
from portal.events import log
from portal.events.bus import EventBus
from portal.events.model import Event

logger = logging.getLogger(__name__)

SendText = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Coroutine[Any, Any, None]]

CLOSE_TOO_SLOW = 1013


class ConnectionState(enum.Enum):
    REPLAYING = "replaying"
    LIVE = "live"
    CLOSED = "closed"


class Connection:
    """One desktop's socket as the hub sees it: a principal and a bounded send queue."""

    def __init__(self, principal: Principal, send_text: SendText, close: Close, *,
                 queue_size: int) -> None:
        self.principal = principal
        self._send_text = send_text
        self._close = close
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.state = ConnectionState.REPLAYING
        self._writer: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(),
                                           name=f"ws-writer-user-{self.principal.user_id}")

    def offer(self, message: dict[str, Any]) -> None:
        """Queue a message; close the connection when its queue is full."""
        if self.state is ConnectionState.CLOSED:
            return
        try:
            self._queue.put_nowait(json.dumps(message, separators=(",", ":")))
        except asyncio.QueueFull:
            logger.warning("Closing WebSocket of user %s: %s messages queued, the desktop "
                           "is too slow", self.principal.user_id, self._queue.qsize())
            self.state = ConnectionState.CLOSED
            self._closing = asyncio.create_task(self._close(CLOSE_TOO_SLOW,
                                                            "too far behind; resume"))

    def offer_event(self, event: Event) -> None:
        if event.audience.includes(user_id=self.principal.user_id, role=self.principal.role):
            self.offer({"type": "event", "event": event.as_json()})

    async def _write_loop(self) -> None:
        try:
            while True:
                text = await self._queue.get()
                await self._send_text(text)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The socket is gone; the receive loop notices and detaches the connection.
            logger.info("WebSocket send to user %s failed: %s", self.principal.user_id, error)
            self.state = ConnectionState.CLOSED

    async def stop(self) -> None:
        self.state = ConnectionState.CLOSED
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer


class TenantPump:
    """Dispatches one tenant's events, in sequence order, to its connections."""

    def __init__(self, tenant_id: int, db: Database, *, last_dispatched: int) -> None:
        self.tenant_id = tenant_id
        self._db = db
        self.last_dispatched = last_dispatched
        self.connections: set[Connection] = set()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"event-pump-tenant-{tenant_id}")

    def notify(self, event: Event) -> None:
        if event.seq > self.last_dispatched:
            self._wake.set()

    async def attach(self, connection: Connection, after: int) -> None:
        """Send `connection` the events it missed after `after`, then add it to the live
        set, with no event dispatched in between."""
        async with self._lock:
            await self._catch_up()
            complete = True
            async with self._db.read() as session:
                oldest = await log.oldest_seq(session, self.tenant_id)
                if oldest is not None and after < oldest - 1:
                    complete = False
                cursor = min(max(after, 0), self.last_dispatched)
                while cursor < self.last_dispatched:
                    batch = await log.events_after(session, self.tenant_id, cursor)
                    batch = [event for event in batch if event.seq <= self.last_dispatched]
                    if not batch:
                        break
                    for event in batch:
                        connection.offer_event(event)
                    cursor = batch[-1].seq
            connection.offer({"type": "ready", "last_seq": self.last_dispatched,
                              "complete": complete})
            if connection.state is ConnectionState.REPLAYING:
                connection.state = ConnectionState.LIVE
                self.connections.add(connection)

    def detach(self, connection: Connection) -> None:
        self.connections.discard(connection)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                async with self._lock:
                    await self._catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Keep the pump alive: the next event retries the read from the log.
                logger.exception("Event pump of tenant %s failed to read the event log",
                                 self.tenant_id)

    async def _catch_up(self) -> None:
        while True:
            async with self._db.read() as session:
                batch = await log.events_after(session, self.tenant_id, self.last_dispatched)
            if not batch:
                return
            for event in batch:
                for connection in list(self.connections):
                    connection.offer_event(event)
                self.last_dispatched = event.seq

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class Hub:
    """All desktop connections of this process."""

    def __init__(self, db: Database, bus: EventBus, *, queue_size: int = 256,
                 heartbeat_seconds: float = 20.0) -> None:
        self._db = db
        self._bus = bus
        self._queue_size = queue_size
        self._heartbeat_seconds = heartbeat_seconds
        self._pumps: dict[int, TenantPump] = {}
        self._pump_lock = asyncio.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._unsubscribe = self._bus.subscribe(self._on_event)
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="ws-heartbeat")
        logger.info("WebSocket hub started")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for pump in list(self._pumps.values()):
            for connection in list(pump.connections):
                await connection.stop()
            await pump.stop()
        self._pumps.clear()
        logger.info("WebSocket hub stopped")

    @property
    def connection_count(self) -> int:
        return sum(len(pump.connections) for pump in self._pumps.values())

    def new_connection(self, principal: Principal, send_text: SendText,
                       close: Close) -> Connection:
        connection = Connection(principal, send_text, close, queue_size=self._queue_size)
        connection.start()
        return connection

    async def attach(self, connection: Connection, after: int) -> None:
        pump = await self._pump(connection.principal.tenant_id)
        await pump.attach(connection, after)
        logger.debug("Desktop of user %s attached after seq %s",
                     connection.principal.user_id, after)

    async def detach(self, connection: Connection) -> None:
        pump = self._pumps.get(connection.principal.tenant_id)
        if pump is not None:
            pump.detach(connection)
        await connection.stop()

    async def _pump(self, tenant_id: int) -> TenantPump:
        async with self._pump_lock:
            pump = self._pumps.get(tenant_id)
            if pump is None:
                async with self._db.read() as session:
                    start = await log.last_seq(session, tenant_id)
                pump = TenantPump(tenant_id, self._db, last_dispatched=start)
                self._pumps[tenant_id] = pump
            return pump

    def _on_event(self, event: Event) -> None:
        pump = self._pumps.get(event.tenant_id)
        if pump is not None:
            pump.notify(event)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            message = {"type": "heartbeat",
                       "time": utcnow().isoformat(timespec="seconds").replace("+00:00", "Z")}
            for pump in list(self._pumps.values()):
                for connection in list(pump.connections):
                    connection.offer(message)
