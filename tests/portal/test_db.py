"""The database layer on a real SQLite file: the one-trip driver returns what SQLAlchemy
expects and runs a write transaction's statements on the loop thread, writers of one
process queue in order, and a failed transaction leaves nothing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import Database, after_commit
from portal.sqlite_driver import YIELD_AFTER_SECONDS, OneTripConnection, OneTripDBAPI

_rows = sa.Table("sample", sa.MetaData(),
                 sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("name", sa.String(20), nullable=False, unique=True))


async def run(session: AsyncSession, statement: Any, parameters: Any = None) -> Any:
    """Execute Core `statement` on the session's connection and return the cursor result."""
    return await (await session.connection()).execute(statement, parameters)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'sample.sqlite3'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(_rows.metadata.create_all)
    yield database
    await database.dispose()


async def test_database_uses_one_trip_driver(db: Database) -> None:
    assert isinstance(db.engine.dialect.loaded_dbapi, OneTripDBAPI)


async def test_one_trip_cursor_results(db: Database) -> None:
    async with db.transaction() as session:
        inserted = await run(session,
            _rows.insert().values(name="first").returning(_rows.c.id))
        first_id = inserted.scalar_one()
        many = await run(session, _rows.insert(), [{"name": "second"}, {"name": "third"}])
        updated = await run(session,
            _rows.update().where(_rows.c.name != "first").values(name=_rows.c.name + "!"))

    async with db.read() as session:
        names = (await run(session, sa.select(_rows.c.name).order_by(_rows.c.id))).all()
        empty = (await run(session, sa.select(_rows).where(_rows.c.id < 0))).all()

    assert first_id == 1
    assert many.rowcount == 2
    assert updated.rowcount == 2
    assert [row.name for row in names] == ["first", "second!", "third!"]
    assert empty == []


async def test_one_trip_cursor_raises_driver_errors(db: Database) -> None:
    async with db.transaction() as session:
        await run(session, _rows.insert().values(name="taken"))

    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await run(session, _rows.insert().values(name="other"))
            await run(session, _rows.insert().values(name="taken"))

    async with db.read() as session:
        names = (await run(session, sa.select(_rows.c.name))).scalars().all()
    assert names == ["taken"]


async def test_writers_queue_in_order(db: Database) -> None:
    """Twenty concurrent writers each read the row count and insert after it; queued one
    at a time, none sees another's uncommitted row and every name is unique."""
    order: list[int] = []

    async def write(index: int) -> None:
        async with db.transaction() as session:
            count = (await run(session, sa.select(sa.func.count()).select_from(_rows)))
            seen = count.scalar_one()
            await asyncio.sleep(0)
            await run(session, _rows.insert().values(name=f"row{seen}"))
            order.append(index)

    await asyncio.gather(*(write(index) for index in range(20)))

    async with db.read() as session:
        names = (await run(session, sa.select(_rows.c.name))).scalars().all()
    assert sorted(names) == sorted(f"row{index}" for index in range(20))
    assert order == list(range(20))


async def test_after_commit_runs_after_the_lock_is_free(db: Database) -> None:
    """A callback may open its own transaction: the writer lock is released first."""
    async def follow_up() -> None:
        async with db.transaction() as session:
            await run(session, _rows.insert().values(name="follow-up"))

    async with db.transaction() as session:
        await run(session, _rows.insert().values(name="first"))
        after_commit(session, follow_up)

    async with db.read() as session:
        names = (await run(session, sa.select(_rows.c.name).order_by(_rows.c.id)))
    assert names.scalars().all() == ["first", "follow-up"]


def _record_threads(db: Database) -> list[int]:
    """Give every new connection a SQL function `thread()` that records the thread it runs
    on, and return the list it appends to."""
    threads: list[int] = []

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.create_function(
            "thread", 0, lambda: threads.append(threading.get_ident()) or 0)

    sa.event.listen(db.engine.sync_engine, "connect", on_connect)
    return threads


async def test_write_transaction_runs_statements_on_the_loop_thread(tmp_path: Path) -> None:
    """Under the write lock a statement runs on the calling thread. Reads outside a write
    transaction, and statements after it committed, go to the database thread."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'threads.sqlite3'}")
    threads = _record_threads(db)
    loop_thread = threading.get_ident()
    try:
        async with db.transaction() as session:
            await run(session, sa.text("SELECT thread()"))
            connection = (await (await session.connection()).get_raw_connection())
            adapted = connection.dbapi_connection
            assert isinstance(adapted, OneTripConnection)
        async with db.read() as session:
            await run(session, sa.text("SELECT thread()"))
        assert not adapted.here
    finally:
        await db.dispose()
    assert threads[0] == loop_thread
    assert threads[1] != loop_thread


async def test_bulk_transaction_runs_statements_on_thread(tmp_path: Path) -> None:
    """A bulk transaction keeps its statements on the database thread, so a long delete
    does not hold up the event loop."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bulk.sqlite3'}")
    threads = _record_threads(db)
    loop_thread = threading.get_ident()
    try:
        async with db.transaction(bulk=True) as session:
            await run(session, sa.text("SELECT thread()"))
    finally:
        await db.dispose()
    assert len(threads) == 1
    assert threads[0] != loop_thread


async def test_long_write_transaction_lets_loop_run(db: Database) -> None:
    """Statements running on the loop's thread let other tasks run at least every
    YIELD_AFTER_SECONDS, so a transaction of many statements does not stall the loop."""
    ticks = 0
    stop = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    try:
        async with db.transaction() as session:
            started = time.monotonic()
            before = ticks
            statements = 0
            while time.monotonic() - started < 20 * YIELD_AFTER_SECONDS:
                await run(session, sa.select(sa.func.count()).select_from(_rows))
                statements += 1
            during = ticks - before
    finally:
        stop.set()
        await ticker

    assert statements > 20
    assert during >= 10


async def test_rolled_back_write_transaction_stops_running_here(tmp_path: Path) -> None:
    """A rollback ends the write transaction: the connection's next statements go to the
    database thread again, and the rolled-back row is gone."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'rollback.sqlite3'}")
    threads = _record_threads(db)
    async with db.engine.begin() as connection:
        await connection.run_sync(_rows.metadata.create_all)
    loop_thread = threading.get_ident()
    try:
        with pytest.raises(IntegrityError):
            async with db.transaction() as session:
                await run(session, _rows.insert().values(name="kept?"))
                await run(session, sa.text("SELECT thread()"))
                await run(session, _rows.insert().values(id=1, name="again"))
        async with db.read() as session:
            await run(session, sa.text("SELECT thread()"))
            names = (await run(session, sa.select(_rows.c.name))).scalars().all()
    finally:
        await db.dispose()
    assert names == []
    assert threads == [loop_thread, threads[1]]
    assert threads[1] != loop_thread


async def test_busy_thread_keeps_statements_there(db: Database) -> None:
    """While the database thread still runs a statement of the connection (its caller was
    cancelled), the next statement does not run beside it on the loop thread."""
    async with db.transaction() as session:
        raw = await (await session.connection()).get_raw_connection()
        adapted = raw.dbapi_connection
        assert isinstance(adapted, OneTripConnection)
        assert adapted.can_run_here()
        adapted.sent += 1  # as if a cancelled statement were still on the thread
        try:
            assert not adapted.can_run_here()
        finally:
            adapted.done += 1
        assert adapted.can_run_here()
        await run(session, _rows.insert().values(name="after"))
