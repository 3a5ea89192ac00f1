"""The child's push loop: batches of pending outbox items, signed and POSTed to the
master, marked delivered only when the master's acknowledgement names them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from datetime import timedelta

import httpx
from lxml import etree
from sqlalchemy.exc import SQLAlchemyError

from portal import leases
from portal.db import Database, utcnow
from portal.errors import PortalError
from portal.sync.envelope import Batch, BatchItem, build_batch, parse_ack, parse_error
from portal.sync.models import SINGLETON_ID, SyncMaster
from portal.sync.outbox import (
    OutgoingItem,
    SyncGateway,
    do_count_attempt,
    do_mark_delivered,
    next_items,
)
from portal.sync.parser import MAX_DOCUMENT_BYTES, XmlRejected
from portal.sync.peers import installation_id, load_master
from portal.sync.signing import sign

logger = logging.getLogger(__name__)

PUSH_PATH = "/sync/v1/push"
BATCH_SIZE = 200
# Leaves room for the envelope below the master's request limit.
BATCH_BYTES = MAX_DOCUMENT_BYTES - 64 * 1024
FIRST_RETRY_SECONDS = 1.0
# How long the loop sleeps when there is no master or nothing to send; staging an item
# wakes it at once.
IDLE_SECONDS = 30.0
REQUEST_TIMEOUT_SECONDS = 30.0
MAX_ERROR_TEXT = 500
LEASE_NAME = "sync:push"
# The lease outlasts one request with its timeout; the holder renews it before every
# batch, and a crashed holder's lease passes on once it expired.
LEASE_SECONDS = 3 * REQUEST_TIMEOUT_SECONDS
# How long a process without the lease waits before it tries to claim it again.
# NOTE: staging wakes only the pusher of the process that staged, so an item staged in
# a process without the lease waits for the holder's next wake-up (at most IDLE_SECONDS).
LEASE_WAIT_SECONDS = 10.0


def backoff_seconds(failures: int, *, cap: float) -> float:
    """Return the delay after `failures` failed pushes in a row: exponential from one
    second up to `cap`, with equal jitter (half fixed, half random) so that children
    that failed together do not retry together."""
    delay = min(cap, FIRST_RETRY_SECONDS * 2.0 ** max(0, failures - 1))
    return delay / 2 + random.uniform(0, delay / 2)


class PushFailed(Exception):
    """A push the master did not acknowledge; the message is stored as `last_error`."""


class SyncPusher:
    """Pushes the outbox to the master. With several portal processes on one database,
    only the holder of the `sync:push` lease pushes, so no item is sent twice at once."""

    def __init__(self, db: Database, gateway: SyncGateway, *, retry_max_seconds: float,
                 batch_size: int = BATCH_SIZE, owner: str | None = None) -> None:
        self._db = db
        self.owner = owner or leases.process_owner()
        self._holds_lease = False
        self._gateway = gateway
        self._retry_max = retry_max_seconds
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        # trust_env=False: the master's address is configured here, never by a proxy
        # variable of the environment.
        self._client = httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, trust_env=False)
        self._task = asyncio.create_task(self._loop(), name="sync-pusher")
        logger.info("Started the sync pusher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._holds_lease:
            try:
                await leases.release(self._db, LEASE_NAME, self.owner)
            except SQLAlchemyError:
                # The lease then expires on its own after LEASE_SECONDS.
                logger.exception("Could not release the sync push lease of %s", self.owner)
            self._holds_lease = False
        logger.info("Stopped the sync pusher")

    async def _loop(self) -> None:
        while True:
            self._gateway.wake.clear()
            try:
                delay = await self.push_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug or a database error must not end the loop; items stay pending.
                logger.exception("Sync push failed unexpectedly; retrying in %s s",
                                 IDLE_SECONDS)
                delay = IDLE_SECONDS
            if delay <= 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gateway.wake.wait(), timeout=delay)

    async def push_once(self) -> float:
        """Push one batch when one is due; return the seconds until the next attempt
        (0 when more items are waiting)."""
        async with self._db.read() as session:
            master = await load_master(session)
            if master is None:
                return IDLE_SECONDS
            if master.next_attempt_at is not None:
                remaining = (master.next_attempt_at - utcnow()).total_seconds()
                if remaining > 0:
                    return remaining
            items = await next_items(session, limit=self._batch_size, max_bytes=BATCH_BYTES)
        if not items:
            return IDLE_SECONDS
        if not await self._hold_lease():
            return LEASE_WAIT_SECONDS
        async with self._db.transaction() as session:
            own_id = await installation_id(session)
            await do_count_attempt(session, [item.id for item in items])
        started = time.monotonic()
        try:
            master_id = await self._post(master, own_id, items)
        except PushFailed as error:
            return await self._record_failure(str(error), len(items))
        async with self._db.transaction() as session:
            delivered = await do_mark_delivered(session, [item.id for item in items])
            row = await session.get(SyncMaster, SINGLETON_ID)
            if row is not None:
                row.failures, row.last_error, row.next_attempt_at = 0, None, None
                row.last_success_at = row.last_attempt_at = utcnow()
                row.master_installation_id = master_id
                session.add(row)
        logger.info("Pushed %s sync items (%s newly delivered) to %s in %.3f s", len(items),
                    delivered, master.url, time.monotonic() - started)
        return 0.0

    async def _hold_lease(self) -> bool:
        """Take or renew the push lease; return whether this process may push now."""
        held = await leases.claim(self._db, LEASE_NAME, self.owner,
                                  timedelta(seconds=LEASE_SECONDS))
        if held != self._holds_lease:
            logger.info("Sync pusher %s %s the push lease", self.owner,
                        "holds" if held else "lost")
        self._holds_lease = held
        return held

    async def _post(self, master: SyncMaster, own_id: str, items: list[OutgoingItem]) -> str:
        batch_id = secrets.token_urlsafe(18)
        try:
            body = build_batch(Batch(id=batch_id, installation_id=own_id, created=utcnow(),
                                     items=[_batch_item(item) for item in items]))
        except (XmlRejected, etree.XMLSyntaxError) as error:
            raise PushFailed(f"building the batch failed: {error}") from error
        assert self._client is not None, "start() the pusher first"
        try:
            response = await self._client.post(
                master.url + PUSH_PATH, content=body,
                headers={"Content-Type": "application/xml",
                         **sign(master.secret, own_id, body)})
        except httpx.HTTPError as error:
            raise PushFailed(f"{type(error).__name__}: {error or 'no detail'} "
                             f"({master.url})") from error
        if response.status_code != 200:
            raise PushFailed(_describe_refusal(response))
        try:
            ack = parse_ack(response.content)
        except PortalError as error:
            raise PushFailed(f"the master's acknowledgement is invalid: {error.message}") \
                from error
        expected = {item.id for item in items}
        if ack.batch_id != batch_id or set(ack.results) != expected:
            raise PushFailed(f"the master acknowledged batch {ack.batch_id!r} with "
                             f"{len(ack.results)} items, not batch {batch_id!r} with "
                             f"{len(expected)}")
        return ack.installation_id

    async def _record_failure(self, message: str, count: int) -> float:
        async with self._db.transaction() as session:
            row = await session.get(SyncMaster, SINGLETON_ID)
            if row is None:
                return IDLE_SECONDS
            row.failures += 1
            delay = backoff_seconds(row.failures, cap=self._retry_max)
            row.last_error = message[:MAX_ERROR_TEXT]
            row.last_attempt_at = utcnow()
            row.next_attempt_at = row.last_attempt_at + timedelta(seconds=delay)
            session.add(row)
            failures = row.failures
        logger.warning("Sync push of %s items failed (%s in a row): %s; retrying in %.1f s",
                       count, failures, message, delay)
        return delay


def _batch_item(item: OutgoingItem) -> BatchItem:
    # The body was serialized by this installation's own code, so the plain parser is
    # safe here; it still resolves no entities.
    payload = etree.fromstring(item.body.encode(),
                               parser=etree.XMLParser(resolve_entities=False, no_network=True))
    return BatchItem(id=item.id, app_id=item.app_id, stream=item.stream,
                     workspace=item.workspace, created=item.created_at, payload=payload)


def _describe_refusal(response: httpx.Response) -> str:
    try:
        error = parse_error(response.content)
    except PortalError:
        return f"the master answered HTTP {response.status_code} without an error document"
    return f"the master rejected the batch with HTTP {response.status_code} {error.code}: " \
           f"{error.message}"
