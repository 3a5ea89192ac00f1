"""Group commit: writes that arrive while a transaction is running wait for it and then
share the next transaction, so that concurrent callers (the SMTP listener's sessions)
pay for one BEGIN and one COMMIT together instead of one each.

Every caller gets its result only after the transaction that contains its write has
committed. When a shared transaction fails, each write of that group runs again in a
transaction of its own, so one failing write fails only its own caller. A caller that
is cancelled before its write starts is left out of the group.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import Database

logger = logging.getLogger(__name__)

Request = TypeVar("Request")
Result = TypeVar("Result")

# The maximum number of writes in one transaction. A longer queue makes several groups.
MAX_GROUP = 32


@dataclass
class _Waiting(Generic[Request, Result]):
    request: Request
    future: asyncio.Future[Result]


class GroupCommit(Generic[Request, Result]):
    """Runs `write(session, request)` for each submitted request, several of them in one
    transaction when they arrive while another transaction is running."""

    def __init__(self, db: Database,
                 write: Callable[[AsyncSession, Request], Awaitable[Result]], *,
                 name: str, max_group: int = MAX_GROUP, durable: bool = False) -> None:
        self.db = db
        self.write = write
        self.name = name
        self.max_group = max_group
        # Whether each commit waits until it is on disk (see `Database.transaction`).
        self.durable = durable
        self._waiting: list[_Waiting[Request, Result]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> Result:
        """Return the result of writing `request` once its transaction has committed;
        raise what the write or the commit raised."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting[Request, Result](request, loop.create_future())
        self._waiting.append(waiting)
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._run())
        return await waiting.future

    async def _run(self) -> None:
        group: list[_Waiting[Request, Result]] = []
        try:
            while self._waiting:
                group = [item for item in self._waiting[:self.max_group]
                         if not item.future.done()]
                del self._waiting[:self.max_group]
                await self._commit(group)
        finally:
            # Only when this task is cancelled (at shutdown) can callers still wait.
            for item in (*group, *self._waiting):
                if not item.future.done():
                    item.future.cancel()

    async def _commit(self, group: list[_Waiting[Request, Result]]) -> None:
        if len(group) > 1:
            started = time.monotonic()
            try:
                results = []
                async with self.db.transaction(durable=self.durable) as session:
                    for item in group:
                        results.append(await self.write(session, item.request))
            except Exception as error:
                logger.warning("Group commit of %s %s writes failed (%s: %s); writing each "
                               "on its own", self.name, len(group), type(error).__name__,
                               error)
            else:
                logger.debug("Group commit of %s %s writes in %.3f s", self.name,
                             len(group), time.monotonic() - started)
                for item, result in zip(group, results, strict=True):
                    _resolve(item.future, result)
                return
        for item in group:
            if not item.future.done():
                await self._commit_alone(item)

    async def _commit_alone(self, item: _Waiting[Request, Result]) -> None:
        try:
            async with self.db.transaction(durable=self.durable) as session:
                result = await self.write(session, item.request)
        except Exception as error:
            if not item.future.done():
                item.future.set_exception(error)
            return
        _resolve(item.future, result)


def _resolve(future: asyncio.Future[Result], result: Result) -> None:
    if not future.done():
        future.set_result(result)
