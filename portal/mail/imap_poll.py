"""IMAP polling: fetch new messages from each tenant's mailboxes into the inbound gateway.

For each unseen message of a mailbox's folder, in UID order:

1. fetch it with `BODY.PEEK[]`, which leaves it unseen on the server;
2. store it through `InboundGateway.store_for_app` (file fsynced, row committed), which
   returns the existing row for a message it already has (same Message-ID or bytes);
3. record its UIDVALIDITY and UID in `portal_mail_imap_seen`;
4. only then flag it \\Seen, or move it to the mailbox's `move_to` folder.

A crash or a dropped connection between 2 and 4 leaves the message unseen, so the next
poll finds it again: the UID record (or, had the crash come before 3, the gateway's own
deduplication) makes it a duplicate that is only flagged, never stored twice. A failed
poll backs off exponentially from the mailbox's interval up to an hour, and its error,
the time of the last poll and the next one are kept on the mailbox for the admin.

Only one portal process at a time polls a mailbox: a poll first takes the database lease
`imap:mailbox:<id>` (`portal.leases`), renews it every third of its time while it runs,
and releases it at the end. A process that dies stops renewing, so another process takes
the mailbox over once the lease expires. A poll that finds the lease taken by another process
raises `MailboxBusy`. A poll that loses its lease stops before its next message and
leaves the mailbox's state to the new holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import col, or_, select

from portal import leases
from portal.db import Database, utcnow
from portal.errors import Conflict, NotFound
from portal.mail.imap_client import ImapClient, ImapFailure, ImapTarget
from portal.mail.imap_models import ImapMailbox, ImapSeen
from portal.mail.inbound import InboundGateway, StorageFailed, UnknownRecipient
from portal.mail.parse import MailLimitExceeded

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 3600
# Messages taken from one mailbox per poll; the rest wait for the next poll, so that one
# full mailbox cannot hold up the others for long.
MAX_MESSAGES_PER_POLL = 100
MAX_ERROR = 2000
# A poll holds its mailbox's lease this long past each renewal. One IMAP step may take
# up to the client's 30-second timeout, and the renewal runs beside it every third of
# this time.
LEASE_SECONDS = 90.0

ClientFactory = Callable[[ImapTarget], ImapClient]


class PollFailed(Exception):
    """A poll of one mailbox stopped early; the message is for the mailbox's state."""


class MailboxBusy(Conflict):
    """Another portal process holds the mailbox's lease and is polling it now."""


class LeaseLost(Exception):
    """The poll's lease expired and another process took the mailbox over."""


@dataclass
class _HeldLease:
    name: str
    lost: bool = False


@dataclass(frozen=True)
class PollResult:
    """The result of one poll of a mailbox."""

    mailbox_id: int
    ok: bool
    stored: int
    duplicates: int
    skipped: int
    error: str | None
    seconds: float


@dataclass(frozen=True)
class ConnectionCheck:
    """The outcome of signing in and selecting the folder, without fetching anything."""

    ok: bool
    message: str
    messages: int = 0
    unseen: int = 0


def target_of(mailbox: ImapMailbox) -> ImapTarget:
    return ImapTarget(host=mailbox.host, port=mailbox.port, security=mailbox.security,
                      username=mailbox.username, password=mailbox.password,
                      folder=mailbox.folder, ca_file=mailbox.ca_file)


def lease_name(mailbox_id: int) -> str:
    """Return the name of the database lease that a poll of the mailbox holds."""
    return f"imap:mailbox:{mailbox_id}"


def backoff_seconds(interval_seconds: int, failures: int) -> int:
    """Return the wait after `failures` failed polls in a row: the interval doubled per
    failure, at most an hour (or the interval, when that is longer)."""
    ceiling = max(MAX_BACKOFF_SECONDS, interval_seconds)
    return int(min(ceiling, interval_seconds * 2 ** max(0, failures)))


class ImapPoller:
    """Polls the enabled mailboxes that are due, one poll per mailbox at a time."""

    def __init__(self, db: Database, inbound: InboundGateway, *,
                 client_factory: ClientFactory = ImapClient,
                 max_messages: int = MAX_MESSAGES_PER_POLL,
                 lease_time: timedelta = timedelta(seconds=LEASE_SECONDS),
                 owner: str | None = None) -> None:
        self.db = db
        self.inbound = inbound
        self.client_factory = client_factory
        self.max_messages = max_messages
        self.lease_time = lease_time
        self.owner = owner or leases.process_owner()
        # Polls within this process queue here; the database lease keeps other
        # processes out.
        self._locks: dict[int, asyncio.Lock] = {}

    async def poll_due(self) -> int:
        """Poll every enabled mailbox whose next poll is due; return how many."""
        now = utcnow()
        async with self.db.read() as session:
            ids = list((await session.exec(
                select(ImapMailbox.id).where(
                    col(ImapMailbox.enabled),
                    or_(col(ImapMailbox.next_poll_at).is_(None),
                        col(ImapMailbox.next_poll_at) <= now))
                .order_by(col(ImapMailbox.next_poll_at), col(ImapMailbox.id)))).all())
        for mailbox_id in ids:
            if mailbox_id is None:
                continue
            try:
                await self.poll(mailbox_id)
            except MailboxBusy:
                logger.debug("IMAP mailbox %s is polled by another process", mailbox_id)
                continue
            except (NotFound, Conflict):
                continue  # deleted or disabled since it was listed
        return len(ids)

    async def poll(self, mailbox_id: int) -> PollResult:
        """Fetch and store the mailbox's new messages now. Raises NotFound for a missing
        mailbox, Conflict for a disabled one and MailboxBusy when another process polls
        it. A failure of the server or of storage is recorded on the mailbox and
        returned, not raised."""
        lock = self._locks.setdefault(mailbox_id, asyncio.Lock())
        async with lock, self._lease(mailbox_id) as lease:
            # Read after taking the lease, so the poll state of the previous holder counts.
            async with self.db.read() as session:
                mailbox = await session.get(ImapMailbox, mailbox_id)
            if mailbox is None:
                raise NotFound(f"IMAP mailbox {mailbox_id} not found.", field="mailbox_id")
            if not mailbox.enabled:
                raise Conflict(f"IMAP mailbox {mailbox_id} is disabled; enable it to poll.",
                               field="enabled")
            return await self._poll_locked(mailbox, lease)

    @contextlib.asynccontextmanager
    async def _lease(self, mailbox_id: int) -> AsyncIterator[_HeldLease]:
        """Hold the mailbox's lease for the block and renew it in the background. Raise
        MailboxBusy when another process holds it."""
        lease = _HeldLease(lease_name(mailbox_id))
        if not await leases.claim(self.db, lease.name, self.owner, self.lease_time):
            raise MailboxBusy(f"IMAP mailbox {mailbox_id} is being polled by another portal "
                              "process; try again when that poll has finished.",
                              field="mailbox_id")
        renewer = asyncio.create_task(self._renew(lease), name=f"renew-{lease.name}")
        try:
            yield lease
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            if not lease.lost:
                try:
                    await leases.release(self.db, lease.name, self.owner)
                except SQLAlchemyError:
                    # The lease then expires on its own.
                    logger.exception("Releasing lease %s failed", lease.name)

    async def _renew(self, lease: _HeldLease) -> None:
        """Renew the lease every third of its time until cancelled or lost."""
        interval = self.lease_time.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            try:
                renewed = await leases.claim(self.db, lease.name, self.owner, self.lease_time)
            except SQLAlchemyError:
                logger.exception("Renewing lease %s failed; retrying in %.1f s", lease.name,
                                 interval)
                continue
            if not renewed:
                lease.lost = True
                logger.warning("Lease %s expired and another process took it over; this "
                               "poll stops before its next message", lease.name)
                return

    async def check_connection(self, mailbox: ImapMailbox) -> ConnectionCheck:
        """Sign in and select the folder with the mailbox's settings; change nothing."""
        client = self.client_factory(target_of(mailbox))
        try:
            await asyncio.to_thread(client.open)
            unseen = await asyncio.to_thread(client.unseen_uids)
        except ImapFailure as error:
            return ConnectionCheck(ok=False, message=str(error))
        finally:
            await asyncio.to_thread(client.close)
        return ConnectionCheck(ok=True, message=f"Signed in; {client.exists} messages in "
                               f"{mailbox.folder!r}, {len(unseen)} unseen.",
                               messages=client.exists, unseen=len(unseen))

    async def _poll_locked(self, mailbox: ImapMailbox, lease: _HeldLease) -> PollResult:
        assert mailbox.id is not None
        started = time.monotonic()
        client = self.client_factory(target_of(mailbox))
        counts = {"stored": 0, "duplicates": 0, "skipped": 0}
        notes: list[str] = []
        error: str | None = None
        try:
            await asyncio.to_thread(client.open)
            uids = await asyncio.to_thread(client.unseen_uids)
            for uid in uids[:self.max_messages]:
                if lease.lost:
                    raise LeaseLost(f"Lost lease {lease.name} to another process after "
                                    f"{counts['stored']} stored messages.")
                await self._take(mailbox, client, uid, counts, notes)
        except (ImapFailure, PollFailed, StorageFailed, LeaseLost) as failure:
            error = failure.message if isinstance(failure, StorageFailed) else str(failure)
        finally:
            await asyncio.to_thread(client.close)
        seconds = time.monotonic() - started
        if not lease.lost:
            # The new holder of the lease records the state of its own poll.
            await self._record(mailbox, error=error, notes=notes, stored=counts["stored"])
        result = PollResult(mailbox.id, error is None, counts["stored"], counts["duplicates"],
                            counts["skipped"], error, seconds)
        if error is None:
            logger.info("Polled IMAP mailbox %s of tenant %s: %s stored, %s duplicates, %s "
                        "skipped in %.3f s", mailbox.id, mailbox.tenant_id, result.stored,
                        result.duplicates, result.skipped, seconds)
        else:
            logger.warning("Polling IMAP mailbox %s of tenant %s failed after %.3f s (%s "
                           "stored): %s", mailbox.id, mailbox.tenant_id, seconds,
                           result.stored, error)
        return result

    async def _take(self, mailbox: ImapMailbox, client: ImapClient, uid: int,
                    counts: dict[str, int], notes: list[str]) -> None:
        """Store one message unless it is known, count it, then flag it."""
        assert mailbox.id is not None
        uidvalidity = client.uidvalidity
        async with self.db.read() as session:
            seen = (await session.exec(select(ImapSeen).where(
                ImapSeen.mailbox_id == mailbox.id, ImapSeen.uidvalidity == uidvalidity,
                ImapSeen.uid == uid))).first()
        outcome = "duplicates"
        if seen is None:
            raw = await asyncio.to_thread(client.fetch, uid)
            if raw is None:
                counts["skipped"] += 1
                return
            try:
                stored = await self.inbound.store_for_app(
                    raw, tenant_id=mailbox.tenant_id, app_id=mailbox.app_id,
                    recipient=mailbox.recipient)
            except MailLimitExceeded as error:
                # The message stays on the server, flagged so that it is not fetched on
                # every poll; the admin sees why in the mailbox's state.
                notes.append(f"Message UID {uid} was left in the folder: {error.message}")
                logger.warning("IMAP mailbox %s: message UID %s not stored: %s", mailbox.id,
                               uid, error.message)
                counts["skipped"] += 1
                await self._flag(mailbox, client, uid)
                return
            except UnknownRecipient as error:
                raise PollFailed(error.message) from error
            await self._remember(mailbox.id, uidvalidity, uid, stored.inbound_id)
            if not stored.duplicate:
                outcome = "stored"
                self.inbound.schedule([stored])
        counts[outcome] += 1
        await self._flag(mailbox, client, uid)
        async with self.db.transaction() as session:
            await session.exec(update(ImapSeen).where(
                col(ImapSeen.mailbox_id) == mailbox.id, col(ImapSeen.uidvalidity) == uidvalidity,
                col(ImapSeen.uid) == uid).values(flagged=True))

    async def _flag(self, mailbox: ImapMailbox, client: ImapClient, uid: int) -> None:
        if mailbox.move_to:
            await asyncio.to_thread(client.move, uid, mailbox.move_to)
        else:
            await asyncio.to_thread(client.mark_seen, uid)

    async def _remember(self, mailbox_id: int, uidvalidity: int, uid: int,
                        inbound_id: int) -> None:
        try:
            async with self.db.transaction() as session:
                session.add(ImapSeen(mailbox_id=mailbox_id, uidvalidity=uidvalidity, uid=uid,
                                     inbound_id=inbound_id))
        except IntegrityError:
            # Another process stored the same UID in between; its row records the same message.
            logger.info("IMAP mailbox %s: UID %s/%s was recorded by another poll",
                        mailbox_id, uidvalidity, uid)

    async def _record(self, mailbox: ImapMailbox, *, error: str | None, notes: list[str],
                      stored: int) -> None:
        now = utcnow()
        failures = mailbox.failures + 1 if error is not None else 0
        wait = (backoff_seconds(mailbox.interval_seconds, failures) if error is not None
                else mailbox.interval_seconds)
        values: dict[str, object] = {
            "last_poll_at": now, "failures": failures,
            "next_poll_at": now + timedelta(seconds=wait),
            "last_error": _clip(error or "\n".join(notes) or None),
            "fetched_total": col(ImapMailbox.fetched_total) + stored,
        }
        if error is None:
            values["last_success_at"] = now
        async with self.db.transaction() as session:
            await session.exec(update(ImapMailbox)
                               .where(col(ImapMailbox.id) == mailbox.id).values(**values))


def _clip(text: str | None) -> str | None:
    return text[:MAX_ERROR] if text else None
