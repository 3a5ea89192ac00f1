"""Background jobs: each runs every N seconds as an asyncio task of the portal process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    interval_seconds: float
    run: Callable[[], Awaitable[None]]


class JobRunner:
    def __init__(self) -> None:
        self._jobs: list[ScheduledJob] = []
        self._tasks: list[asyncio.Task[None]] = []

    def add(self, job: ScheduledJob) -> None:
        self._jobs.append(job)

    def start(self) -> None:
        for job in self._jobs:
            self._tasks.append(asyncio.create_task(self._loop(job), name=f"job-{job.name}"))
        logger.info("Started %s background jobs", len(self._jobs))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        logger.info("Stopped background jobs")

    async def _loop(self, job: ScheduledJob) -> None:
        while True:
            await asyncio.sleep(job.interval_seconds)
            started = time.monotonic()
            try:
                await job.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                # One failed run must not end the job; the next interval tries again.
                logger.exception("Job %s failed after %.2f s; retrying in %s s", job.name,
                                 time.monotonic() - started, job.interval_seconds)
