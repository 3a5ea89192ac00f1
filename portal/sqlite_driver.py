"""SQLAlchemy's aiosqlite adapter, with one trip to the database thread per statement.

aiosqlite runs each SQLite call in its own thread and hands the result back through the
event loop. SQLAlchemy's adapter makes four such trips per statement: open a cursor,
execute, fetch the rows, close the cursor. Each trip wakes the thread, takes the GIL and
schedules a callback, and in a request that runs twenty statements those trips cost more
CPU than SQLite itself. The cursor here does all four steps in one function on the
database thread.

Inside a write transaction of `Database.transaction` the cursor skips the trip and runs
the statement on the calling thread (`Database` calls `run_here()` after its
`BEGIN IMMEDIATE`). The transaction holds SQLite's write lock, and in
WAL mode no statement of it waits for another connection, so a statement takes about as
long as SQLite needs for it (tens of microseconds for the short statements writers
run), less than the trip itself costs the event loop. BEGIN, COMMIT and ROLLBACK, which
can wait for the lock or write to disk, and every read outside a write transaction still
go to the database thread. Every 5 ms at most, a statement first lets the loop run
other tasks, so a transaction of many statements does not stall it.

`Database` passes `module()` to `create_async_engine` as the DBAPI module, which
SQLAlchemy documents as the way to use an alternate DBAPI; everything else (the dialect,
pooling, type handling) is SQLAlchemy's own aiosqlite support.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import time
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# How long statements running on the loop's thread may go on without letting the loop
# run other tasks, so that a transaction of many statements does not stall the loop.
YIELD_AFTER_SECONDS = 0.005

# What one statement leaves behind: description, rows, rowcount, lastrowid.
_Outcome = tuple[Any, list[Any], int, int | None]


def _run(connection: sqlite3.Connection, operation: str, parameters: Any,
         many: bool) -> _Outcome:
    """Run one statement on the database thread and collect everything SQLAlchemy reads
    from the cursor."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement runs in one trip to the database thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # No driver cursor: `_run` makes one per statement on the database thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        raise NotImplementedError("OneTripCursor buffers every row; arraysize is fixed.")

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._run(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._run(operation, seq_of_parameters, many=True)

    def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        adapted: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        try:
            if adapted.can_run_here():
                outcome = await_(self._here(operation, parameters, many=many))
            else:
                outcome = await_(self._trip(operation, parameters, many=many))
        except Exception as error:
            adapted._handle_exception(error)
            return
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    async def _here(self, operation: Any, parameters: Any, *, many: bool) -> _Outcome:
        # A coroutine, because SQLAlchemy's asyncio layer checks that a Core statement
        # went through `await_` at least once. It suspends only to let the loop run.
        adapted: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        if time.monotonic() - adapted.yielded_at > YIELD_AFTER_SECONDS:
            await asyncio.sleep(0)
            adapted.yielded_at = time.monotonic()
        return _run(adapted.driver_connection, operation, parameters, many)

    async def _trip(self, operation: Any, parameters: Any, *, many: bool) -> _Outcome:
        adapted: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with adapted._execute_mutex:
            adapted.sent += 1
            return await connection._execute(  # type: ignore[no-untyped-call,no-any-return]
                adapted.run_on_thread, operation, parameters, many)

    def nextset(self) -> None:
        raise NotImplementedError("SQLite statements have one result set.")

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """The adapted connection, with the state that decides where a statement runs:
    whether the transaction may run statements on the calling thread, and whether the
    database thread is still running one."""

    __slots__ = ("done", "here", "sent", "yielded_at")

    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.here = False
        # Statements handed to the database thread, counted on the event loop's thread,
        # and statements it finished, counted on the database thread (possibly after the
        # awaiting coroutine was cancelled). Each counter has one writer.
        self.sent = 0
        self.done = 0
        # When the statements running here last let the event loop run.
        self.yielded_at = 0.0

    @property
    def driver_connection(self) -> sqlite3.Connection:
        return self._connection._conn  # type: ignore[no-any-return]

    def run_here(self) -> None:
        """Run the statements of the current transaction on the calling thread until it
        commits or rolls back. Call it only once the transaction holds the write lock."""
        self.here = True
        self.yielded_at = time.monotonic()

    def can_run_here(self) -> bool:
        return self.here and self.sent == self.done

    def run_on_thread(self, operation: str, parameters: Any, many: bool) -> _Outcome:
        try:
            return _run(self.driver_connection, operation, parameters, many)
        finally:
            self.done += 1

    def commit(self) -> None:
        self.here = False
        super().commit()

    def rollback(self) -> None:
        self.here = False
        super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def module() -> OneTripDBAPI:
    """Return the DBAPI module to pass to `create_async_engine(..., module=...)`."""
    return OneTripDBAPI(aiosqlite, sqlite3)
