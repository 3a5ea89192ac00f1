"""The WebSocket hub: one connection per desktop, fed in sequence order per tenant.

Each tenant with connected desktops has a pump. When the bus reports an event, the pump
hands every event after the last one it dispatched, in sequence order, to the
connections whose user may see it, reading the event log whenever the notifications
leave a gap. A connection has a bounded send queue. One that falls too far behind is
closed with code 1013, and the desktop resumes from its last sequence number when it
reconnects. So a slow browser never stalls the others and misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
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
# Policy violation: the session behind the socket has ended.
CLOSE_SIGNED_OUT = 1008
# A desktop that lets a replay wait this long for room in its send queue counts as too
# slow, like a live desktop whose queue overflows.
REPLAY_STALL_SECONDS = 20.0
# How long a requested close waits for the messages queued before it to be sent.
CLOSE_DRAIN_SECONDS = 5.0
# Rounds of replay without the pump's lock before an attaching desktop goes live anyway.
ATTACH_ROUNDS = 10


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def event_message(event: Event) -> str:
    """Encode the message that carries `event`; every connection sends the same text."""
    return encode({"type": "event", "event": event.as_json()})


class ConnectionState(enum.Enum):
    REPLAYING = "replaying"
    LIVE = "live"
    CLOSED = "closed"


@dataclass(frozen=True)
class _CloseRequest:
    code: int
    reason: str


class Connection:
    """One desktop's socket in the hub: a principal and a bounded send queue.

    States: REPLAYING (missed events are being sent), then LIVE (in the pump's set), and
    CLOSED from either. A closed connection never opens again; the desktop reconnects.
    """

    def __init__(self, principal: Principal, send_text: SendText, close: Close, *,
                 queue_size: int) -> None:
        self.principal = principal
        self._send_text = send_text
        self._close = close
        self._queue: asyncio.Queue[str | _CloseRequest] = asyncio.Queue(maxsize=queue_size)
        self.state = ConnectionState.REPLAYING
        self._writer: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    @property
    def is_open(self) -> bool:
        return self.state is not ConnectionState.CLOSED

    @property
    def free_slots(self) -> int:
        return self._queue.maxsize - self._queue.qsize()

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(),
                                           name=f"ws-writer-user-{self.principal.user_id}")

    def go_live(self) -> None:
        if self.state is not ConnectionState.REPLAYING:
            raise RuntimeError(f"connection of user {self.principal.user_id} is "
                               f"{self.state.value}, not replaying; it cannot go live")
        self.state = ConnectionState.LIVE

    def may_see(self, event: Event) -> bool:
        return event.audience.includes(user_id=self.principal.user_id, role=self.principal.role)

    def offer(self, text: str) -> None:
        """Queue an encoded message, or close the connection when its queue is full."""
        if self.state is ConnectionState.CLOSED:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self._fall_behind()

    def offer_message(self, message: dict[str, Any]) -> None:
        self.offer(encode(message))

    async def offer_waiting(self, text: str) -> None:
        """Queue an encoded message, waiting for room, or close the connection when no
        room frees up within REPLAY_STALL_SECONDS."""
        if self.state is ConnectionState.CLOSED:
            return
        try:
            await asyncio.wait_for(self._queue.put(text), REPLAY_STALL_SECONDS)
        except TimeoutError:
            self._fall_behind()

    async def close_after_sending(self, code: int, reason: str) -> None:
        """Close the socket once the messages queued so far are sent, and wait for it."""
        if self.state is ConnectionState.CLOSED or self._writer is None:
            return
        try:
            self._queue.put_nowait(_CloseRequest(code, reason))
        except asyncio.QueueFull:
            self._fall_behind()
            return
        done, _ = await asyncio.wait({self._writer}, timeout=CLOSE_DRAIN_SECONDS)
        if not done:
            logger.warning("WebSocket of user %s did not take its queued messages within "
                           "%s s; closing it with code %s now", self.principal.user_id,
                           CLOSE_DRAIN_SECONDS, code)
            self._writer.cancel()
            self.state = ConnectionState.CLOSED
            await self._close(code, reason)

    def _fall_behind(self) -> None:
        if self._closing is not None:
            return
        logger.warning("Closing WebSocket of user %s: %s messages queued, the desktop is "
                       "too slow", self.principal.user_id, self._queue.qsize())
        self.state = ConnectionState.CLOSED
        # The queued messages are dropped: the desktop gets them again when it resumes.
        if self._writer is not None:
            self._writer.cancel()
        self._closing = asyncio.create_task(self._close(CLOSE_TOO_SLOW,
                                                        "too far behind; resume"))

    async def _write_loop(self) -> None:
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, _CloseRequest):
                    self.state = ConnectionState.CLOSED
                    await self._close(item.code, item.reason)
                    return
                await self._send_text(item)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # The socket is gone; the receive loop notices and detaches the connection.
            logger.info("WebSocket send to user %s failed: %r", self.principal.user_id, error)
            self.state = ConnectionState.CLOSED
            self._discard_queue()

    def _discard_queue(self) -> None:
        # Frees a replay that waits for room in the queue, so it finds the connection
        # closed.
        while not self._queue.empty():
            self._queue.get_nowait()

    async def stop(self) -> None:
        self.state = ConnectionState.CLOSED
        for task in (self._writer, self._closing):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


class TenantPump:
    """Dispatches one tenant's events, in sequence order, to its connections.

    The event log is the source of truth. The pump sends a notified event as it came
    only when it directly follows the last one dispatched, and reads the log otherwise.
    The hub's heartbeat also makes every pump read the log. So notifications that
    arrive late, twice, out of order or never cost delay at most, never an event.
    """

    def __init__(self, tenant_id: int, db: Database, *, last_dispatched: int) -> None:
        self.tenant_id = tenant_id
        self._db = db
        self.last_dispatched = last_dispatched
        self.connections: set[Connection] = set()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._read_log = False
        # Events the bus reported and the pump has not dispatched yet, by seq.
        self._notified: dict[int, Event] = {}
        self._task = asyncio.create_task(self._run(), name=f"event-pump-tenant-{tenant_id}")

    def notify(self, event: Event) -> None:
        if event.seq > self.last_dispatched:
            self._notified[event.seq] = event
            self._wake.set()

    def wake(self) -> None:
        """Read the log for new events even though no notification came."""
        self._read_log = True
        self._wake.set()

    async def attach(self, connection: Connection, after: int) -> None:
        """Send `connection` the events after `after` that its user may see, then
        `ready`, then add it to the live set, with no event missed or sent twice.

        Most of the replay runs without the pump's lock and waits for room in the
        connection's queue, so a long backlog neither overflows the queue nor holds up
        live delivery to other desktops. Under the lock the pump sends only what it
        dispatched meanwhile.
        """
        after = max(after, 0)
        complete = await self._log_holds_all_after(after)
        cursor = after
        for _ in range(ATTACH_ROUNDS):
            while cursor < self.last_dispatched and connection.is_open:
                cursor = await self._replay(connection, cursor, until=self.last_dispatched,
                                            wait=True)
            async with self._lock:
                await self._catch_up()
                # One slot stays free for the `ready` message.
                if self.last_dispatched - cursor >= connection.free_slots:
                    # Too much arrived meanwhile to send without waiting, so that part
                    # is replayed without the lock too.
                    continue
                await self._go_live(connection, cursor, complete=complete)
                return
        # NOTE: under a sustained flood of events the connection may overflow here and be
        # closed with 1013. The desktop then resumes.
        async with self._lock:
            await self._catch_up()
            await self._go_live(connection, cursor, complete=complete)

    async def _go_live(self, connection: Connection, cursor: int, *, complete: bool) -> None:
        """Send what was dispatched after `cursor`, then `ready`. Call with the lock held."""
        await self._replay(connection, cursor, until=self.last_dispatched, wait=False)
        connection.offer_message({"type": "ready", "last_seq": self.last_dispatched,
                                  "complete": complete})
        if connection.state is ConnectionState.REPLAYING:
            connection.go_live()
            self.connections.add(connection)

    def detach(self, connection: Connection) -> None:
        self.connections.discard(connection)

    async def _log_holds_all_after(self, after: int) -> bool:
        async with self._db.read() as session:
            oldest = await log.oldest_seq(session, self.tenant_id)
            newest = await log.last_seq(session, self.tenant_id)
        if after >= newest:
            return True
        return oldest is not None and oldest <= after + 1

    async def _replay(self, connection: Connection, cursor: int, *, until: int,
                      wait: bool) -> int:
        """Offer `connection` the events in (cursor, until] that it may see, and return
        the sequence number reached."""
        while cursor < until and connection.is_open:
            # The read session closes before the offers, so a replay that waits for a
            # slow desktop keeps no database snapshot open.
            async with self._db.read() as session:
                batch = await log.events_after(session, self.tenant_id, cursor)
            if not batch:
                return until
            for event in batch:
                if event.seq > until:
                    return cursor
                if connection.may_see(event):
                    if wait:
                        await connection.offer_waiting(event_message(event))
                    else:
                        connection.offer(event_message(event))
                cursor = event.seq
        return cursor

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            read_log, self._read_log = self._read_log, False
            try:
                async with self._lock:
                    await self._catch_up(read_log=read_log)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The pump stays alive, and the next wake-up retries the read.
                logger.exception("Event pump of tenant %s failed to read the event log "
                                 "after seq %s", self.tenant_id, self.last_dispatched)

    async def _catch_up(self, *, read_log: bool = True) -> None:
        """Dispatch every committed event after `last_dispatched`.

        Notified events that follow on without a gap are dispatched as they are: within
        a tenant, commit order is sequence order, and the bus carries the event as
        committed. A gap means a notification is late or lost, so the pump then reads
        the log, as it does whenever `read_log` is set.
        """
        while self.last_dispatched + 1 in self._notified:
            await self._dispatch(self._notified.pop(self.last_dispatched + 1))
        if read_log or self._notified:
            while True:
                async with self._db.read() as session:
                    batch = await log.events_after(session, self.tenant_id,
                                                   self.last_dispatched)
                if not batch:
                    break
                for event in batch:
                    await self._dispatch(event)
        for seq in [seq for seq in self._notified if seq <= self.last_dispatched]:
            del self._notified[seq]

    async def _dispatch(self, event: Event) -> None:
        text: str | None = None
        for connection in list(self.connections):
            if connection.may_see(event):
                # Encoded once per event, and only when some connection may see it.
                text = text if text is not None else event_message(event)
                connection.offer(text)
        self.last_dispatched = event.seq
        # Let the writers send it before the next one, so a burst of events committed
        # together fills no healthy desktop's queue.
        await asyncio.sleep(0)

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
        self._forget_missed: Callable[[], None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._unsubscribe = self._bus.subscribe(self._on_event)
        self._forget_missed = self._bus.on_missed(self._wake_pumps)
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="ws-heartbeat")
        logger.info("WebSocket hub started (send queue %s messages, heartbeat every %s s)",
                    self._queue_size, self._heartbeat_seconds)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._forget_missed is not None:
            self._forget_missed()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        closed = 0
        for pump in list(self._pumps.values()):
            for connection in list(pump.connections):
                await connection.stop()
                closed += 1
            await pump.stop()
        self._pumps.clear()
        logger.info("WebSocket hub stopped with %s connections open", closed)

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

    async def close_session(self, session_key: str) -> int:
        """Close every socket of one browser session (after sign-out); return how many."""
        closing = [connection for pump in self._pumps.values()
                   for connection in pump.connections
                   if connection.principal.session_key == session_key]
        for connection in closing:
            await connection.close_after_sending(CLOSE_SIGNED_OUT, "signed out")
        if closing:
            logger.info("Closed %s WebSockets of user %s after sign-out", len(closing),
                        closing[0].principal.user_id)
        return len(closing)

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

    def _wake_pumps(self) -> None:
        for pump in list(self._pumps.values()):
            pump.wake()

    def _on_event(self, event: Event) -> None:
        pump = self._pumps.get(event.tenant_id)
        if pump is not None:
            pump.notify(event)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            text = encode({"type": "heartbeat",
                           "time": utcnow().isoformat(timespec="seconds").replace("+00:00",
                                                                                  "Z")})
            for pump in list(self._pumps.values()):
                # A bus may lose a notification, and this bounds the delay it causes.
                pump.wake()
                for connection in list(pump.connections):
                    connection.offer(text)
