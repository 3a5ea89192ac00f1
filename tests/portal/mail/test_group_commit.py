"""Group commit on a real SQLite file. Writes queued while a transaction runs share the
next one, and every caller gets its result only after its commit. A failing write
fails alone, and a caller cancelled before its write starts is left out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import Database
from portal.mail.group_commit import GroupCommit

_names = sa.Table("sample", sa.MetaData(),
                  sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("name", sa.String(20), nullable=False, unique=True))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'sample.sqlite3'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(_names.metadata.create_all)
    yield database
    await database.dispose()


class Recorder:
    """A write that inserts a name, and the transactions its writes ran in."""

    def __init__(self) -> None:
        # The sessions themselves, so that none is freed and its id() reused.
        self.sessions: list[AsyncSession] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def write(self, session: AsyncSession, name: str) -> int:
        self.sessions.append(session)
        self.started.set()
        await self.release.wait()
        result = await (await session.connection()).execute(
            _names.insert().values(name=name).returning(_names.c.id))
        return int(result.scalar_one())


async def committed_names(db: Database) -> list[str]:
    async with db.read() as session:
        result = await (await session.connection()).execute(
            sa.select(_names.c.name).order_by(_names.c.id))
        return [row[0] for row in result.all()]


async def test_group_commit_shares_transaction(db: Database) -> None:
    recorder = Recorder()
    group = GroupCommit(db, recorder.write, name="sample")
    recorder.release.clear()
    first = asyncio.create_task(group.submit("first"))
    await recorder.started.wait()
    queued = [asyncio.create_task(group.submit(f"name{index}")) for index in range(3)]
    await asyncio.sleep(0)
    recorder.release.set()

    ids = [await first, *[await task for task in queued]]

    assert ids == [1, 2, 3, 4]
    assert len({id(session) for session in recorder.sessions[1:]}) == 1
    assert recorder.sessions[0] is not recorder.sessions[1]
    assert await committed_names(db) == ["first", "name0", "name1", "name2"]


async def test_group_commit_result_after_commit(db: Database) -> None:
    group = GroupCommit(db, Recorder().write, name="sample")

    async def submit_and_read(name: str) -> list[str]:
        await group.submit(name)
        return await committed_names(db)

    seen = await asyncio.gather(*(submit_and_read(f"name{index}") for index in range(4)))

    for index, names in enumerate(seen):
        assert f"name{index}" in names


async def test_group_commit_failure_fails_alone(db: Database) -> None:
    """A duplicate name violates the unique constraint: its caller gets the error and
    the other writes of the group are committed."""
    group = GroupCommit(db, Recorder().write, name="sample")

    results = await asyncio.gather(group.submit("ann"), group.submit("bob"),
                                   group.submit("ann"), group.submit("cid"),
                                   return_exceptions=True)

    assert list(results[:2]) == [1, 2]
    assert isinstance(results[2], sa.exc.IntegrityError)
    assert isinstance(results[3], int)
    assert await committed_names(db) == ["ann", "bob", "cid"]


async def test_group_commit_skips_cancelled_caller(db: Database) -> None:
    recorder = Recorder()
    group = GroupCommit(db, recorder.write, name="sample")
    recorder.release.clear()
    first = asyncio.create_task(group.submit("first"))
    await recorder.started.wait()
    cancelled = asyncio.create_task(group.submit("cancelled"))
    remaining = asyncio.create_task(group.submit("kept"))
    await asyncio.sleep(0)
    cancelled.cancel()
    recorder.release.set()

    await first
    await remaining

    assert cancelled.cancelled()
    assert await committed_names(db) == ["first", "kept"]
