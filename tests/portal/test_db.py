"""The database layer on a real SQLite file: the one-trip driver returns what SQLAlchemy
expects, writers of one process queue in order, and a failed transaction leaves nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import Database, after_commit
from portal.sqlite_driver import OneTripDBAPI

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
