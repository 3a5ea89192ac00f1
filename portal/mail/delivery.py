"""The delivery worker: sends due outbox rows to the SMTP relay, with retries.

It runs as one asyncio task in the portal process. It wakes when a transaction that
queued mail commits (`MailGateway.wake`) and also sweeps every `sweep_seconds`, which
covers mail queued by other processes and retries that fall due.

A 4xx reply, a refused or dropped connection and a timeout are temporary: the row is
retried after an exponential delay with jitter, until `RetryPolicy` gives up. A 5xx
reply is permanent: the row fails with the server's reply as its error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosmtplib

from portal.db import Database, utcnow
from portal.mail.outbound_relay import RelayConfig, RelaySecurity
from portal.mail.outbox import (
    NO_RELAY_ERROR,
    NO_RELAY_RECHECK,
    MailGateway,
    OutboxMessage,
    OutboxStatus,
    claim_due,
    do_release_no_relay,
    finish,
    next_due,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a temporary failure, and when to stop trying."""

    base_seconds: float = 60.0
    max_delay_seconds: float = 3600.0
    max_attempts: int = 12
    max_age: timedelta = timedelta(days=3)

    def delay(self, attempts: int) -> float:
        """Return the seconds to wait after the `attempts`-th failed attempt: the doubled
        base, capped, of which a random half is taken off ("equal jitter"), so that mail
        that failed together does not retry together."""
        ceiling = min(self.max_delay_seconds, self.base_seconds * 2 ** max(0, attempts - 1))
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))

    def gives_up(self, attempts: int, created_at: datetime, now: datetime) -> bool:
        return attempts >= self.max_attempts or now - created_at >= self.max_age


@dataclass(frozen=True)
class Outcome:
    """The outcome of one delivery attempt."""

    status: OutboxStatus
    error: str | None = None


class DeliveryWorker:
    """Claims due outbox rows with a lease and hands them to their relay."""

    def __init__(self, db: Database, gateway: MailGateway, *,
                 policy: RetryPolicy | None = None, sweep_seconds: float = 30.0,
                 batch_size: int = 20, lease: timedelta = timedelta(minutes=5),
                 smtp_timeout: float = 60.0, no_relay_recheck: timedelta = NO_RELAY_RECHECK,
                 ) -> None:
        self.db = db
        self.gateway = gateway
        self.policy = policy or RetryPolicy()
        self.sweep_seconds = sweep_seconds
        self.batch_size = batch_size
        self.lease = lease
        self.smtp_timeout = smtp_timeout
        self.no_relay_recheck = no_relay_recheck
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="mail-delivery")
            logger.info("Started mail delivery worker %s (sweep every %s s, default relay %s)",
                        self.owner, self.sweep_seconds,
                        self.gateway.default_relay.describe() if self.gateway.default_relay
                        else "none")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        logger.info("Stopped mail delivery worker %s", self.owner)

    async def _loop(self) -> None:
        async with self.db.transaction() as session:
            released = await do_release_no_relay(session)
        if released:
            logger.info("Mail delivery worker %s: %s messages that waited for a relay are "
                        "due again", self.owner, released)
        while True:
            self.gateway.wakeup.clear()
            try:
                handled = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A database hiccup must not end the worker; the next sweep tries again.
                logger.exception("Mail delivery worker %s failed a pass; retrying in %s s",
                                 self.owner, self.sweep_seconds)
                handled = 0
            if handled >= self.batch_size:
                continue
            idle = await self._idle_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gateway.wakeup.wait(), idle)

    async def _idle_seconds(self) -> float:
        """Return how long to sleep: until the next retry falls due, at most one sweep."""
        try:
            async with self.db.read() as session:
                due = await next_due(session)
        except Exception:
            logger.exception("Mail delivery worker %s could not read the next due time",
                             self.owner)
            return self.sweep_seconds
        if due is None:
            return self.sweep_seconds
        return min(self.sweep_seconds, max(0.0, (due - utcnow()).total_seconds()))

    async def run_once(self) -> int:
        """Claim one batch of due rows and attempt each; return how many were claimed."""
        async with self.db.transaction() as session:
            rows = await claim_due(session, owner=self.owner, lease=self.lease,
                                   limit=self.batch_size)
        for row in rows:
            await self._deliver(row)
        return len(rows)

    async def _deliver(self, row: OutboxMessage) -> None:
        async with self.db.read() as session:
            relay = await self.gateway.relay_for(session, row.tenant_id)
        if relay is None:
            await self._record_waiting(row)
            return
        started = time.monotonic()
        outcome = await self._send(row, relay)
        elapsed = time.monotonic() - started
        attempts = row.attempts + 1
        if outcome.status is OutboxStatus.SENT:
            await self._record(row, outcome)
            logger.info("Sent mail %s of tenant %s via %s in %.2f s (attempt %s)", row.id,
                        row.tenant_id, relay.describe(), elapsed, attempts)
        elif outcome.status is OutboxStatus.FAILED:
            await self._record(row, outcome)
            logger.warning("Mail %s of tenant %s failed permanently via %s: %s", row.id,
                           row.tenant_id, relay.describe(), outcome.error)
        elif self.policy.gives_up(attempts, row.created_at, utcnow()):
            error = f"Gave up after {attempts} attempts: {outcome.error}"
            await self._record(row, Outcome(OutboxStatus.FAILED, error))
            logger.warning("Mail %s of tenant %s failed: %s", row.id, row.tenant_id, error)
        else:
            delay = self.policy.delay(attempts)
            await self._record(row, outcome, next_attempt_at=utcnow() + timedelta(seconds=delay))
            logger.info("Mail %s of tenant %s not delivered via %s (attempt %s): %s; "
                        "retrying in %.1f s", row.id, row.tenant_id, relay.describe(),
                        attempts, outcome.error, delay)

    async def _record_waiting(self, row: OutboxMessage) -> None:
        """Put a row back to wait for a relay. The relay is read again in the same write
        transaction: an admin who saved one while this pass ran released the waiting
        rows before this row was waiting again, so it is due at once instead of after
        the next recheck."""
        async with self.db.transaction() as session:
            relay = await self.gateway.relay_for(session, row.tenant_id)
            due = utcnow() if relay is not None else utcnow() + self.no_relay_recheck
            leased = await finish(session, row, owner=self.owner,
                                  status=OutboxStatus.NO_RELAY, next_attempt_at=due,
                                  error=NO_RELAY_ERROR, count_attempt=False)
        if not leased:
            logger.warning("Mail %s: lease of worker %s expired before it was put back to "
                           "wait for a relay; another worker owns it now", row.id, self.owner)
        elif relay is not None:
            self.gateway.wake()
            logger.info("Mail %s of tenant %s: a relay was configured during the pass; due "
                        "again now", row.id, row.tenant_id)
        else:
            logger.info("Mail %s of tenant %s waits: no SMTP relay configured", row.id,
                        row.tenant_id)

    async def _record(self, row: OutboxMessage, outcome: Outcome, *,
                      next_attempt_at: datetime | None = None,
                      count_attempt: bool = True) -> None:
        async with self.db.transaction() as session:
            kept = await finish(session, row, owner=self.owner, status=outcome.status,
                                next_attempt_at=next_attempt_at, error=outcome.error,
                                count_attempt=count_attempt)
        if not kept:
            logger.warning("Mail %s: lease of worker %s expired before the outcome %s was "
                           "recorded; another worker owns it now", row.id, self.owner,
                           outcome.status.value)

    async def _send(self, row: OutboxMessage, relay: RelayConfig) -> Outcome:
        try:
            errors, _reply = await aiosmtplib.send(
                row.content, sender=row.envelope_from, recipients=row.recipients,
                hostname=relay.host, port=relay.port, username=relay.username,
                password=relay.password, use_tls=relay.security is RelaySecurity.TLS,
                start_tls=relay.security is RelaySecurity.STARTTLS,
                timeout=self.smtp_timeout)
        except aiosmtplib.SMTPRecipientsRefused as error:
            return _classify([(item.code, f"{item.recipient}: {item.message}")
                              for item in error.recipients])
        except aiosmtplib.SMTPAuthenticationError as error:
            # Bad relay credentials are the operator's to fix, not the message's fault, so
            # they retry although the reply is 5xx.
            return Outcome(OutboxStatus.RETRYING, f"Relay rejected the sign-in: {error.code} "
                                                  f"{error.message}")
        except aiosmtplib.SMTPResponseException as error:
            return _classify([(error.code, error.message)])
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return Outcome(OutboxStatus.RETRYING, f"Connection to the relay failed: "
                                                  f"{type(error).__name__}: {error}")
        if errors:
            refused = "; ".join(f"{address}: {reply.code} {reply.message}"
                                for address, reply in errors.items())
            logger.warning("Mail %s of tenant %s: the relay rejected some recipients: %s",
                           row.id, row.tenant_id, refused)
            return Outcome(OutboxStatus.SENT, f"Refused recipients: {refused}")
        return Outcome(OutboxStatus.SENT)


def _classify(replies: list[tuple[int, str]]) -> Outcome:
    """Return failed when every reply is permanent (5xx), else retrying."""
    text = "; ".join(f"{code} {message}" for code, message in replies)
    if replies and all(500 <= code < 600 for code, _ in replies):
        return Outcome(OutboxStatus.FAILED, text)
    return Outcome(OutboxStatus.RETRYING, text)
