"""Background jobs: each runs every N seconds as an asyncio task of the portal process.

With a database, a job runs only in the process that holds its lease (`portal.leases`),
so several portal processes run each job once per interval between them, never at the
same time. The holder renews the lease before every run. The lease outlives the
interval, so a process that crashes hands the job over when its lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from portal import leases
from portal.db import Database

logger = logging.getLogger(__name__)

# A job's lease lasts this many intervals, and at least MIN_LEASE_SECONDS, so that the
# holder renews it in time even when a run takes a while.
LEASE_INTERVALS = 2
MIN_LEASE_SECONDS = 30.0


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    interval_seconds: float
    run: Callable[[], Awaitable[None]]

    @property
    def lease_time(self) -> timedelta:
        return timedelta(seconds=max(self.interval_seconds * LEASE_INTERVALS,
                                     MIN_LEASE_SECONDS))


class JobRunner:
    """Runs the jobs of one process; with `db`, only those whose lease it holds."""

    def __init__(self, db: Database | None = None, *, owner: str | None = None) -> None:
        self._db = db
        self.owner = owner or leases.process_owner()
        self._jobs: list[ScheduledJob] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._held: set[str] = set()

    def add(self, job: ScheduledJob) -> None:
        self._jobs.append(job)

    def start(self) -> None:
        for job in self._jobs:
            self._tasks.append(asyncio.create_task(self._loop(job), name=f"job-{job.name}"))
        logger.info("Started %s background jobs as lease owner %s", len(self._jobs),
                    self.owner)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self._release_all()
        logger.info("Stopped background jobs")

    async def _loop(self, job: ScheduledJob) -> None:
        while True:
            await asyncio.sleep(job.interval_seconds)
            if not await self._hold(job):
                continue
            started = time.monotonic()
            try:
                await job.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                # One failed run must not end the job; the next interval tries again.
                logger.exception("Job %s failed after %.2f s; retrying in %s s", job.name,
                                 time.monotonic() - started, job.interval_seconds)

    async def _hold(self, job: ScheduledJob) -> bool:
        """Take or renew the job's lease; return whether this process may run it now."""
        if self._db is None:
            return True
        try:
            held = await leases.claim(self._db, f"job:{job.name}", self.owner, job.lease_time)
        except SQLAlchemyError:
            logger.exception("Job %s skipped a run: claiming its lease failed", job.name)
            return False
        if held and job.name not in self._held:
            logger.info("Job %s now runs in this process (%s)", job.name, self.owner)
        elif not held and job.name in self._held:
            logger.warning("Job %s lost its lease to another process", job.name)
        if held:
            self._held.add(job.name)
        else:
            self._held.discard(job.name)
        return held

    async def _release_all(self) -> None:
        if self._db is None:
            return
        for name in sorted(self._held):
            try:
                await leases.release(self._db, f"job:{name}", self.owner)
            except SQLAlchemyError:
                # The lease then expires on its own.
                logger.exception("Could not release the lease of job %s", name)
        self._held.clear()
