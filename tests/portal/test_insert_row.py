"""`insert_row`: one INSERT instead of the unit of work, with the row then tracked by
the session as if a flush had written it; `core_connection`, the connection it uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from portal.db import Database, core_connection, insert_row
from tests.support import create_database, drop_database


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "insert_row_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    note: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    count: Mapped[int] = mapped_column(default=7)
    level: Mapped[int] = mapped_column(server_default=sa.text("42"))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = await create_database(tmp_path, "insert_row")
    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()
    await drop_database(url)


async def test_insert_row_returns_defaults(db: Database) -> None:
    async with db.transaction() as session:
        item = Item(name="first")
        await insert_row(session, item)

        assert item in session
        assert item.id is not None
        assert item.note is None
        assert item.count == 7
        assert item.level == 42


async def test_insert_row_keeps_given_values(db: Database) -> None:
    async with db.transaction() as session:
        item = Item(name="given", note="a note", count=3, level=5)
        await insert_row(session, item)

    async with db.read() as session:
        stored = await session.get(Item, item.id)
    assert stored is not None
    assert (stored.name, stored.note, stored.count, stored.level) == ("given", "a note", 3, 5)


async def test_insert_row_flushes_later_changes(db: Database) -> None:
    async with db.transaction() as session:
        item = Item(name="before")
        await insert_row(session, item)
        item.name = "after"

    async with db.read() as session:
        stored = await session.get(Item, item.id)
    assert stored is not None
    assert stored.name == "after"


async def test_insert_row_undone_by_rollback(db: Database) -> None:
    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with db.transaction() as session:
            await insert_row(session, Item(name="undone"))
            raise Undo

    async with db.read() as session:
        count = (await session.exec(sa.select(sa.func.count()).select_from(Item))).one()
    assert count == (0,)


async def test_core_connection_kept_for_one_transaction(db: Database) -> None:
    async with db.read() as session:
        first = await core_connection(session)
        assert await core_connection(session) is first
        await first.execute(sa.insert(Item.__table__).values(name="kept"))
        await session.rollback()

        # The next transaction of the same session gets its own connection, and the
        # rolled-back row is gone.
        second = await core_connection(session)
        assert second is not first
        count = (await second.execute(sa.select(sa.func.count()).select_from(Item))).scalar()
        assert count == 0
        await second.execute(sa.insert(Item.__table__).values(name="committed"))
        await session.commit()

    async with db.read() as session:
        names = (await session.exec(sa.select(Item.name))).scalars().all()
    assert names == ["committed"]
