"""The inbound mail gateway: store every message durably first, then hand it to the app
that registered its recipient address.

Storing: the raw bytes of a message up to `INLINE_MAX_BYTES` go into `portal_mail_raw`
with its row, in a transaction whose commit waits until it is on disk (`durable`). A
bigger message goes to `<data-dir>/mail/inbound/<sha256[:2]>/<sha256>.eml`, written to a
temporary file, fsynced and renamed (and the folder fsynced) before the row commits.
Only then does the SMTP listener reply 250 or the MTA pipe exit with 0. The file name
is the content's SHA-256, so identical bytes for several tenants share one file.

Processing: the message is parsed and the app's `mail_handler` runs in one transaction
with the status change, so a ticket and the `processed` status commit together. A parse
failure or an exception in the handler rolls the handler's work back and quarantines
the message with the error, and an admin can replay it after a fix. Messages still
`received` (after a crash, or stored by the MTA pipe in another process) are picked up
by the `portal.mail.inbound` job.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, union_all
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import Database, core_connection, utcnow
from portal.errors import Conflict, NotFound, PortalError
from portal.mail.group_commit import GroupCommit
from portal.mail.inbound_addresses import normalize_address, route_candidates
from portal.mail.inbound_models import (
    MAX_ADDRESS,
    MAX_MESSAGE_ID,
    InboundMail,
    InboundRaw,
    InboundStatus,
    MailRoute,
    transition,
)
from portal.mail.parse import MailLimitExceeded, MailLimits, ParsedMail, parse_mail
from portal.mail.parse_headers import parse_message_id
from portal.mail.parse_limits import check_limits
from portal.registry.installed import (
    LoadedApps,
    counts_as_installed,
    installation_recorded,
    is_installed,
)

logger = logging.getLogger(__name__)

RAW_FOLDER = Path("mail") / "inbound"
# Messages up to this size keep their raw bytes in the database, committed with their
# row: writing and fsyncing a file and its folder cost about 1 ms of CPU per message,
# more than storing the row. Bigger ones, which carry attachments, go to files, so that
# they do not swell the database.
INLINE_MAX_BYTES = 128 * 1024
MAX_ERROR = 4000
MAX_OUTCOME = 200
PENDING_BATCH = 50
# Scheduled messages processed in one transaction. It holds the write lock while their
# handlers run (a few milliseconds each), so other writers wait at most that long.
BATCH_SIZE = 10
STOP_TIMEOUT_SECONDS = 10.0


class UnknownRecipient(PortalError):
    code = "unknown_recipient"
    status = 404


class StorageFailed(PortalError):
    """The message could not be stored; the sender should try again later."""

    code = "storage_failed"
    status = 503


class RouteChanged(StorageFailed):
    """A recipient's address routes elsewhere, or nowhere, since it was looked up (a
    session reuses its routes, see `listener.SESSION_ROUTE_SECONDS`). The sender should
    try again, and its next RCPT looks the route up anew."""

    code = "route_changed"


@dataclass(frozen=True)
class _RowsToInsert:
    """The rows of one message to insert, one per routed recipient's tenant and app."""

    routes: list[tuple[MailRoute, str]]
    sha256: str
    message_id: str | None
    size: int
    envelope_sender: str
    # Whether the routes came from address lookups, which the insert checks again.
    check_routes: bool = True
    # The raw bytes to keep in the database, or None when they went to a file.
    inline: bytes | None = None


@dataclass(frozen=True)
class StoredMail:
    """The stored row of one message for one routed recipient. `parsed` is the message
    as `store` parsed it right after writing it, or the parse error, so that processing
    need not read and parse the file again; None when it was not parsed."""

    inbound_id: int
    tenant_id: int
    app_id: str
    recipient: str
    duplicate: bool
    parsed: ParsedMail | BaseException | None = field(default=None, compare=False,
                                                       repr=False)


class InboundGateway:
    """Stores inbound messages and runs the apps' mail handlers on them."""

    def __init__(self, db: Database, registry: LoadedApps, data_dir: Path, *,
                 limits: MailLimits | None = None) -> None:
        self.db = db
        self.registry = registry
        self.root = data_dir / RAW_FOLDER
        self.limits = limits or MailLimits()
        # Scheduled messages waiting for the worker task, which `schedule` starts.
        self._queue: list[StoredMail] = []
        self._worker: asyncio.Task[None] | None = None
        # Durable, because the listener replies 250 after the commit, which contains the
        # raw bytes of most messages, and the MTA then deletes its copy.
        self._inserts = GroupCommit(db, self._insert_message, name="inbound mail",
                                    durable=True)

    def raw_path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.eml"

    async def find_recipient(self, address: str) -> MailRoute | None:
        """Return the route of `address` when its app is installed for its tenant."""
        async with self.db.read() as session:
            return await _find_installed_route(session, self.registry, address)

    async def store(self, raw: bytes, *, recipients: Sequence[str],
                    envelope_sender: str = "",
                    routes: Mapping[str, MailRoute] | None = None,
                    parse: bool = False) -> list[StoredMail]:
        """Store `raw` once per routed recipient's tenant and app and return the rows;
        a message already stored for that tenant and app (same Message-ID, or same bytes)
        returns the existing row with `duplicate` set.

        `routes` are the routes of recipients that the caller looked up already (the
        SMTP listener does at RCPT time); the others are looked up here. With `parse`,
        the message is parsed right after its file is written and the rows carry the
        result, for a caller that processes them in this process (`schedule`).

        Raises MailLimitExceeded when the message is too big, UnknownRecipient when a
        recipient has no route, and StorageFailed when the file or the row could not be
        written.
        """
        self._check_size(raw)
        by_app: dict[tuple[int, str], tuple[MailRoute, str]] = {}
        for recipient in recipients:
            route = (routes or {}).get(recipient) or await self.find_recipient(recipient)
            if route is None:
                raise UnknownRecipient(f"No app receives mail for {recipient!r}.",
                                       field="recipient")
            by_app.setdefault((route.tenant_id, route.app_id),
                              (route, normalize_address(recipient)[:MAX_ADDRESS]))
        return await self._store_routed(raw, list(by_app.values()),
                                        envelope_sender=envelope_sender, parse=parse)

    async def store_for_app(self, raw: bytes, *, tenant_id: int, app_id: str, recipient: str,
                            envelope_sender: str = "") -> StoredMail:
        """Store `raw` for one app of one tenant without an address route, as the IMAP
        poller does for a mailbox that names its app; the same deduplication applies.

        Raises MailLimitExceeded, UnknownRecipient when the app is not installed for the
        tenant, and StorageFailed.
        """
        self._check_size(raw)
        async with self.db.read() as session:
            installed = await is_installed(session, self.registry, tenant_id, app_id)
        if not installed:
            raise UnknownRecipient(f"App {app_id!r} is not installed for this workspace; "
                                   "install it or choose another app.", field="app_id")
        route = MailRoute(tenant_id=tenant_id, app_id=app_id, address=recipient)
        stored = await self._store_routed(
            raw, [(route, normalize_address(recipient)[:MAX_ADDRESS])],
            envelope_sender=envelope_sender, check_routes=False)
        return stored[0]

    def _check_size(self, raw: bytes) -> None:
        """Raise MailLimitExceeded for a message over the size limit, so that the sender
        gets the rejection (SMTP 552, pipe status 65) instead of a stored message that
        processing could only mark rejected. `_prepare` checks the other limits."""
        if len(raw) > self.limits.max_bytes:
            raise MailLimitExceeded(f"The message is {len(raw):,} bytes; the maximum is "
                                    f"{self.limits.max_bytes:,}.", reason="size")

    async def _store_routed(self, raw: bytes, routes: list[tuple[MailRoute, str]], *,
                            envelope_sender: str, parse: bool = False,
                            check_routes: bool = True) -> list[StoredMail]:
        sha256 = hashlib.sha256(raw).hexdigest()
        message_id = _quick_message_id(raw)
        started = time.monotonic()
        try:
            parsed = await asyncio.to_thread(self._prepare, sha256, raw, parse)
            stored = await self._insert_rows(routes, sha256=sha256,
                                             message_id=message_id, size=len(raw),
                                             envelope_sender=envelope_sender,
                                             check_routes=check_routes,
                                             inline=raw if len(raw) <= INLINE_MAX_BYTES
                                             else None)
        except (OSError, SQLAlchemyError) as error:
            logger.exception("Storing inbound message %s (%s bytes) failed", sha256, len(raw))
            raise StorageFailed("The message could not be stored; try again later.") from error
        for item in stored:
            logger.info("Stored inbound mail %s for tenant %s app %s to %s: %s bytes, "
                        "Message-ID %s, sha256 %s%s in %.3f s", item.inbound_id,
                        item.tenant_id, item.app_id, item.recipient, len(raw), message_id,
                        sha256, " (duplicate)" if item.duplicate else "",
                        time.monotonic() - started)
        return [replace(item, parsed=parsed) for item in stored]

    def _prepare(self, sha256: str, raw: bytes, parse: bool,
                 ) -> ParsedMail | BaseException | None:
        """Check the header, part and nesting limits, write the file of a message over
        `INLINE_MAX_BYTES`, then parse it when `parse` is set. Return the parsed message
        or the parse error.

        One trip to a worker thread does all three. Each takes milliseconds for a
        message of many MiB, and the event loop must not wait for them."""
        check_limits(raw, self.limits)
        if len(raw) > INLINE_MAX_BYTES:
            self._write_raw(sha256, raw)
        if not parse:
            return None
        try:
            return parse_mail(raw, limits=self.limits)
        except Exception as error:
            # Processing records the message as rejected or quarantined with this error.
            return error

    def _write_raw(self, sha256: str, raw: bytes) -> None:
        path = self.raw_path(sha256)
        if path.exists() and path.stat().st_size == len(raw):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(raw)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    async def _insert_rows(self, routes: list[tuple[MailRoute, str]], *, sha256: str,
                           message_id: str | None, size: int, envelope_sender: str,
                           check_routes: bool, inline: bytes | None) -> list[StoredMail]:
        """Insert the message's rows (with `inline`, the raw bytes to keep in the
        database) and return them once they are committed and on disk. Messages stored
        at the same time share the transaction (see `group_commit`). With
        `check_routes`, each recipient must still route to its tenant and app in that
        transaction, else RouteChanged is raised."""
        return await self._inserts.submit(_RowsToInsert(
            routes, sha256=sha256, message_id=message_id, size=size,
            envelope_sender=normalize_address(envelope_sender)[:MAX_ADDRESS],
            check_routes=check_routes, inline=inline))

    async def _insert_message(self, session: AsyncSession,
                              rows: _RowsToInsert) -> list[StoredMail]:
        stored: list[StoredMail] = []
        for route, recipient in rows.routes:
            if rows.check_routes:
                await _check_route(session, route, recipient)
            existing = await _find_duplicate(session, route, rows.sha256, rows.message_id)
            if existing is not None:
                assert existing.id is not None
                stored.append(StoredMail(existing.id, route.tenant_id, route.app_id,
                                         recipient, duplicate=True))
                continue
            # A Core INSERT: nothing reads the row back here, and an ORM object and its
            # flush would cost more than the INSERT.
            values = {
                "tenant_id": route.tenant_id, "app_id": route.app_id, "recipient": recipient,
                "envelope_sender": rows.envelope_sender, "message_id": rows.message_id,
                "sha256": rows.sha256, "size": rows.size, "status": InboundStatus.RECEIVED,
                "outcome": None, "error": None, "subject": "", "from_address": "",
                "attempts": 0, "received_at": utcnow(), "processed_at": None}
            connection = await core_connection(session)
            duplicate = False
            if self.db.dialect == "sqlite":
                # The transaction holds the write lock since BEGIN, so no other
                # process can have stored the message since `_find_duplicate`.
                row_id = (await connection.execute(_INSERT_INBOUND, values)).scalar_one()
            else:
                try:
                    async with session.begin_nested():
                        row_id = (await connection.execute(_INSERT_INBOUND,
                                                           values)).scalar_one()
                except IntegrityError:
                    # Another process stored the same message in between.
                    existing = await _find_duplicate(session, route, rows.sha256,
                                                     rows.message_id)
                    if existing is None:
                        raise
                    row_id, duplicate = existing.id, True
            if rows.inline is not None and not duplicate:
                await connection.execute(_INSERT_RAW, {"inbound_id": row_id,
                                                       "content": rows.inline})
            stored.append(StoredMail(row_id, route.tenant_id, route.app_id, recipient,
                                     duplicate=duplicate))
        return stored

    def schedule(self, stored: Sequence[StoredMail]) -> None:
        """Process newly stored messages in the background of the running loop, oldest
        first, in batches (see `_process_batch`)."""
        self._queue.extend(item for item in stored if not item.duplicate)
        if self._queue and (self._worker is None or self._worker.done()):
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    async def stop(self) -> None:
        """Wait for scheduled processing to finish, then cancel what is left; the job
        picks those messages up again on the next start."""
        if self._worker is None or self._worker.done():
            return
        _done, pending = await asyncio.wait({self._worker}, timeout=STOP_TIMEOUT_SECONDS)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("Cancelled processing of %s inbound messages at shutdown",
                           len(self._queue) + 1)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:BATCH_SIZE], self._queue[BATCH_SIZE:]
            try:
                await self._process_batch(batch)
            except Exception:
                # The messages stay received; the portal.mail.inbound job retries them.
                logger.exception("Processing inbound mail %s failed",
                                 [item.inbound_id for item in batch])

    async def _process_batch(self, batch: list[StoredMail]) -> None:
        """Process scheduled messages in order. Consecutive messages parsed when stored
        run their handlers in one transaction, which saves a transaction, a read of the
        row and a read and parse of the file per message. When any of them fails, that
        transaction rolls back and each message runs alone, so only the failing one is
        quarantined."""
        run: list[tuple[StoredMail, ParsedMail]] = []
        for item in batch:
            if isinstance(item.parsed, ParsedMail):
                run.append((item, item.parsed))
                continue
            await self._process_run(run)
            run = []
            await self._process_logged(item)
        await self._process_run(run)

    async def _process_run(self, run: list[tuple[StoredMail, ParsedMail]]) -> None:
        if len(run) > 1:
            try:
                await self._deliver_batch(run)
                return
            except Exception as error:
                logger.warning("Batch of inbound mail %s failed (%s); processing each "
                               "message on its own", [item.inbound_id for item, _ in run],
                               _describe(error))
        for item, _mail in run:
            await self._process_logged(item)

    async def _process_logged(self, item: StoredMail) -> None:
        try:
            await self._process_stored(item)
        except Exception:
            logger.exception("Processing inbound mail %s failed", item.inbound_id)

    async def _process_stored(self, item: StoredMail) -> InboundStatus:
        """Process one scheduled message, with its parse result when `store` parsed it."""
        allowed = {InboundStatus.RECEIVED}
        if item.parsed is None:
            return await self.process(item.inbound_id)
        if isinstance(item.parsed, MailLimitExceeded):
            return await self._finish(item.inbound_id, InboundStatus.REJECTED, allowed,
                                      error=item.parsed.message)
        if isinstance(item.parsed, BaseException):
            logger.error("Parsing inbound mail %s failed: %s", item.inbound_id,
                         _describe(item.parsed))
            return await self._finish(item.inbound_id, InboundStatus.QUARANTINED, allowed,
                                      error=f"Parsing failed: {_describe(item.parsed)}")
        return await self._deliver(item.inbound_id, item.tenant_id, item.app_id, item.parsed,
                                   allowed)

    async def _deliver_batch(self, batch: list[tuple[StoredMail, ParsedMail]]) -> None:
        """Run the mail handler on each message of `batch` in one transaction, with the
        status changes. The first failure raises and so rolls all of them back."""
        started = time.monotonic()
        processed: list[InboundMail] = []
        async with self.db.transaction() as session:
            rows = {row.id: row for row in (await session.exec(
                select(InboundMail).where(col(InboundMail.id).in_(
                    [item.inbound_id for item, _mail in batch])).with_for_update())).all()}
            installed: dict[tuple[int, str], bool] = {}
            for item, mail in batch:
                current = rows.get(item.inbound_id)
                if current is None or current.status is not InboundStatus.RECEIVED:
                    continue  # Another worker processed it since it was stored.
                key = (item.tenant_id, item.app_id)
                if key not in installed:
                    installed[key] = await is_installed(session, self.registry, *key)
                app = self.registry.apps.get(item.app_id)
                if app is None or app.backend.mail_handler is None or not installed[key]:
                    # The one-message path records which of the three it is.
                    raise PortalError(f"App {item.app_id!r} is not loaded, has no mail "
                                      "handler or is not installed for tenant "
                                      f"{item.tenant_id} (inbound mail {item.inbound_id}).")
                outcome = await app.backend.mail_handler(app.context, session, item.tenant_id,
                                                         mail, item.inbound_id)
                _record(current, InboundStatus.PROCESSED, mail, outcome=str(outcome))
                session.add(current)
                processed.append(current)
        elapsed = time.monotonic() - started
        for row in processed:
            logger.info("Processed inbound mail %s of tenant %s with app %s in a batch of %s "
                        "(%.3f s): %s", row.id, row.tenant_id, row.app_id, len(batch), elapsed,
                        row.outcome)

    async def process_pending(self, limit: int = PENDING_BATCH) -> int:
        """Process up to `limit` messages still in status received, oldest first, and
        return how many were tried."""
        async with self.db.read() as session:
            ids = list((await session.exec(
                select(InboundMail.id).where(InboundMail.status == InboundStatus.RECEIVED)
                .order_by(col(InboundMail.id)).limit(limit))).all())
        for inbound_id in ids:
            if inbound_id is not None:
                try:
                    await self.process(inbound_id)
                except Exception:
                    logger.exception("Processing inbound mail %s failed", inbound_id)
        return len(ids)

    async def replay(self, tenant_id: int, inbound_id: int) -> InboundStatus:
        """Process a quarantined message of the tenant again and return its new status.
        Raises NotFound for another tenant's message and Conflict for one that is not
        quarantined."""
        async with self.db.read() as session:
            row = await session.get(InboundMail, inbound_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound(f"Inbound message {inbound_id} not found.", field="inbound_id")
        if row.status is not InboundStatus.QUARANTINED:
            raise Conflict(f"Inbound message {inbound_id} is {row.status.value}; only "
                           "quarantined messages can be replayed.", field="inbound_id")
        logger.info("Replaying inbound mail %s of tenant %s", inbound_id, tenant_id)
        return await self.process(inbound_id, replay=True)

    async def process(self, inbound_id: int, *, replay: bool = False) -> InboundStatus:
        """Parse a stored message and run its app's mail handler; return the status it
        ends in. Only a received message is processed, or a quarantined one on replay."""
        allowed = {InboundStatus.RECEIVED} | ({InboundStatus.QUARANTINED} if replay else set())
        raw: bytes | None = None
        async with self.db.read() as session:
            row = await session.get(InboundMail, inbound_id)
            if row is not None and row.status in allowed:
                raw = (await (await core_connection(session)).execute(
                    _RAW_CONTENT, {"inbound_id": inbound_id})).scalar()
        if row is None:
            raise NotFound(f"Inbound message {inbound_id} not found.", field="inbound_id")
        if row.status not in allowed:
            return row.status
        if raw is None:
            try:
                raw = await asyncio.to_thread(self.raw_path(row.sha256).read_bytes)
            except OSError as error:
                return await self._finish(inbound_id, InboundStatus.QUARANTINED, allowed,
                                          error=f"The raw message file is unreadable: {error}")
        try:
            mail = await asyncio.to_thread(parse_mail, raw, limits=self.limits)
        except MailLimitExceeded as error:
            return await self._finish(inbound_id, InboundStatus.REJECTED, allowed,
                                      error=error.message)
        except Exception as error:
            logger.exception("Parsing inbound mail %s failed", inbound_id)
            return await self._finish(inbound_id, InboundStatus.QUARANTINED, allowed,
                                      error=f"Parsing failed: {_describe(error)}")
        assert row.id is not None
        return await self._deliver(row.id, row.tenant_id, row.app_id, mail, allowed)

    async def _deliver(self, inbound_id: int, tenant_id: int, app_id: str, mail: ParsedMail,
                       allowed: set[InboundStatus]) -> InboundStatus:
        app = self.registry.apps.get(app_id)
        handler = app.backend.mail_handler if app is not None else None
        if app is None or handler is None:
            return await self._finish(inbound_id, InboundStatus.QUARANTINED, allowed, mail=mail,
                                      error=f"App {app_id!r} is not loaded or has no "
                                            "mail handler; fix the app and replay.")
        started = time.monotonic()
        try:
            async with self.db.transaction() as session:
                current = await _claim(session, inbound_id, allowed)
                if current is None:
                    return (await _status(self.db, inbound_id)) or InboundStatus.RECEIVED
                if not await is_installed(session, self.registry, tenant_id, app_id):
                    raise PortalError(f"App {app_id!r} is not installed for this "
                                      "workspace; install it and replay.")
                outcome = await handler(app.context, session, tenant_id, mail, inbound_id)
                _record(current, InboundStatus.PROCESSED, mail, outcome=str(outcome))
                session.add(current)
        except Exception as error:
            logger.exception("Mail handler of app %s failed on inbound mail %s of tenant %s",
                             app_id, inbound_id, tenant_id)
            return await self._finish(inbound_id, InboundStatus.QUARANTINED, allowed, mail=mail,
                                      error=_describe(error))
        logger.info("Processed inbound mail %s of tenant %s with app %s in %.3f s: %s",
                    inbound_id, tenant_id, app_id, time.monotonic() - started,
                    current.outcome)
        return InboundStatus.PROCESSED

    async def _finish(self, inbound_id: int, status: InboundStatus, allowed: set[InboundStatus],
                      *, error: str, mail: ParsedMail | None = None) -> InboundStatus:
        async with self.db.transaction() as session:
            current = await _claim(session, inbound_id, allowed)
            if current is None:
                return (await _status(self.db, inbound_id)) or status
            _record(current, status, mail, error=error)
            session.add(current)
        logger.warning("Inbound mail %s of tenant %s is %s: %s", inbound_id,
                       current.tenant_id, status.value, error)
        return status


async def _find_installed_route(session: AsyncSession, registry: LoadedApps,
                                address: str) -> MailRoute | None:
    """Return the route that `find_route` finds for `address` when its app is installed
    for its tenant, else None; one statement reads both."""
    candidates = route_candidates(address)
    rows = (await session.exec(_ROUTES_WITH_INSTALLATION,
                               params={"candidates": candidates})).all()
    found = {route.address: (route, bool(flag)) for route, flag in rows}
    for candidate in candidates:
        if candidate in found:
            route, flag = found[candidate]
            return route if counts_as_installed(registry, route.app_id, flag) else None
    return None


# Statements that every inbound message runs, built once so that SQLAlchemy compiles
# them once: building a statement costs more than running it.
_ROUTES_WITH_INSTALLATION = select(
    MailRoute,
    installation_recorded(col(MailRoute.tenant_id), col(MailRoute.app_id)).label("recorded"),
).where(col(MailRoute.address).in_(bindparam("candidates", expanding=True)))


def _duplicate_lookup(column: Any) -> Any:
    return select(InboundMail.id).where(
        InboundMail.tenant_id == bindparam("tenant_id"),
        InboundMail.app_id == bindparam("app_id"), column == bindparam(column.key))


# One lookup on each unique index: with OR instead of UNION ALL, SQLite's planner may
# read every row of the tenant. A NULL Message-ID matches nothing, as `= NULL` is never
# true.
_EARLIEST_DUPLICATE = select(func.min(union_all(
    _duplicate_lookup(InboundMail.sha256),
    _duplicate_lookup(InboundMail.message_id)).subquery().c.id))
_INSERT_INBOUND = (InboundMail.__table__.insert()  # type: ignore[attr-defined]
                   .returning(InboundMail.__table__.c.id))  # type: ignore[attr-defined]
_INSERT_RAW = InboundRaw.__table__.insert()  # type: ignore[attr-defined]
_RAW_CONTENT = (select(InboundRaw.content)
                .where(InboundRaw.inbound_id == bindparam("inbound_id")))


_ROUTE_OWNERS = select(MailRoute.address, MailRoute.tenant_id, MailRoute.app_id).where(
    col(MailRoute.address).in_(bindparam("candidates", expanding=True)))


async def _check_route(session: AsyncSession, route: MailRoute, recipient: str) -> None:
    """Raise RouteChanged unless `recipient` still routes to the tenant and app of
    `route`, read in the inserting transaction, so that a route that moved to another
    workspace since RCPT never delivers there."""
    candidates = route_candidates(recipient)
    owners = {address: (tenant_id, app_id) for address, tenant_id, app_id in (
        await session.exec(_ROUTE_OWNERS, params={"candidates": candidates})).all()}
    current = next((owners[candidate] for candidate in candidates if candidate in owners),
                   None)
    if current != (route.tenant_id, route.app_id):
        logger.warning("Route of %r changed since it was looked up (tenant %s, app %s, now "
                       "%s); the sender is asked to try again", recipient, route.tenant_id,
                       route.app_id, current)
        raise RouteChanged(f"The address {recipient!r} routes elsewhere since it was looked "
                           "up; try again.", field="recipient")


async def _find_duplicate(session: AsyncSession, route: MailRoute, sha256: str,
                          message_id: str | None) -> InboundMail | None:
    """Return the earliest row of the tenant and app with the same bytes or the same
    Message-ID."""
    earliest = (await session.exec(_EARLIEST_DUPLICATE, params={
        "tenant_id": route.tenant_id, "app_id": route.app_id, "sha256": sha256,
        "message_id": message_id})).one()
    return await session.get(InboundMail, earliest) if earliest is not None else None


async def _claim(session: AsyncSession, inbound_id: int,
                 allowed: set[InboundStatus]) -> InboundMail | None:
    """Load the row for an update in this transaction, or None when another worker has
    moved it on since it was read."""
    row = await session.get(InboundMail, inbound_id, with_for_update=True)
    if row is None or row.status not in allowed:
        return None
    return row


async def _status(db: Database, inbound_id: int) -> InboundStatus | None:
    async with db.read() as session:
        row = await session.get(InboundMail, inbound_id)
    return row.status if row is not None else None


def _record(row: InboundMail, status: InboundStatus, mail: ParsedMail | None, *,
            outcome: str | None = None, error: str | None = None) -> None:
    transition(row, status)
    row.outcome = outcome[:MAX_OUTCOME] if outcome is not None else None
    row.error = error[:MAX_ERROR] if error is not None else None
    row.attempts += 1
    row.processed_at = utcnow()
    if mail is not None:
        row.subject = mail.subject[:300]
        row.from_address = mail.from_.address[:MAX_ADDRESS] if mail.from_ else ""


def _describe(error: BaseException) -> str:
    message = error.message if isinstance(error, PortalError) else str(error)
    return f"{type(error).__name__}: {message}"


def _quick_message_id(raw: bytes) -> str | None:
    """Return the Message-ID from the header block alone, without parsing the body."""
    try:
        headers = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
        value = next((str(item) for key, item in headers.raw_items()
                      if key.lower() == "message-id"), None)
    except (ValueError, TypeError, LookupError, UnicodeError, RecursionError):
        return None
    message_id = parse_message_id(value, [], header="Message-ID")
    return message_id if message_id is None or len(message_id) <= MAX_MESSAGE_ID else None
