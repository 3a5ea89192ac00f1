"""Database engine, sessions and the transaction helper that runs after-commit work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Column, Insert, event
from sqlalchemy import inspect as inspect_model
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ColumnProperty, make_transient_to_detached
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel.ext.asyncio.session import AsyncSession

from portal import sqlite_driver

logger = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
_Row = TypeVar("_Row")
_AFTER_COMMIT_KEY = "miportal.after_commit"
# The largest id a database column can store (a signed 64-bit integer). A bigger
# number names no row, and SQLite's driver raises OverflowError for it.
MAX_ROW_ID = 2**63 - 1
_SQLITE_BEGIN = "miportal_sqlite_begin"
_SQLITE_SYNCHRONOUS = "miportal_sqlite_synchronous"
_CONNECTION_KEY = "miportal.connection"


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no offset, so values are stored as naive UTC and tagged on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Database:
    """The engine and session factory of one portal process."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, **_engine_options(url))
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _configure_sqlite)
            event.listen(self.engine.sync_engine, "begin", _begin_sqlite)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # SQLite lets one transaction write at a time. Writers of this process queue here,
        # in order, instead of in SQLite's busy handler, which polls with sleeps of up to
        # 100 ms. Writers of other processes (the CLI, tests) still meet the busy handler.
        self._write_lock = asyncio.Lock()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, *, bulk: bool = False,
                          durable: bool = False) -> AsyncIterator[AsyncSession]:
        """Yield a session inside one transaction; commit on success, roll back on error.

        Callbacks registered with `after_commit` run once the commit succeeded, so events
        and other side effects never announce work that was rolled back. On SQLite the
        transaction's statements run on the event loop's thread (see `sqlite_driver`);
        pass `bulk=True` for statements that may take long, such as mass deletes, to keep
        them on the database thread so that the loop goes on serving meanwhile.

        SQLite runs with `synchronous=NORMAL`, so a commit may be undone by a power
        failure (never by a crash of the process). Pass `durable=True` when the commit
        makes a promise to someone outside, such as SMTP's 250 for a stored message:
        the commit then returns only once the transaction is on disk (`FULL` for this
        transaction). PostgreSQL's commits are durable by default.
        """
        async with self.sessions() as session:
            async with self._writer():
                try:
                    if self.dialect == "sqlite":
                        # Take SQLite's write lock at BEGIN: a deferred transaction that
                        # later writes fails with "database is locked" instead of waiting.
                        options = {_SQLITE_BEGIN: "IMMEDIATE"}
                        if durable:
                            options[_SQLITE_SYNCHRONOUS] = "FULL"
                        connection = await session.connection(execution_options=options)
                        driver = (await connection.get_raw_connection()).dbapi_connection
                        if not bulk and isinstance(driver, sqlite_driver.OneTripConnection):
                            # Short statements under the write lock: cheaper here.
                            driver.run_here()
                    yield session
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    session.info.pop(_AFTER_COMMIT_KEY, None)
                    raise
            for callback in session.info.pop(_AFTER_COMMIT_KEY, []):
                try:
                    await callback()
                except Exception:
                    # The data is committed; a failed notification must not turn the
                    # request into an error. Clients catch up from the event log.
                    logger.exception("After-commit callback %r failed", callback)

    @asynccontextmanager
    async def write_connection(self) -> AsyncIterator[AsyncConnection]:
        """Yield a connection in one write transaction, for work outside the ORM such as
        migrations; like `transaction`, it queues behind this process's writers and
        takes SQLite's write lock at BEGIN."""
        async with self._writer(), self.engine.connect() as connection:
            if self.dialect == "sqlite":
                connection = await connection.execution_options(
                    **{_SQLITE_BEGIN: "IMMEDIATE"})
            async with connection.begin():
                yield connection

    @asynccontextmanager
    async def _writer(self) -> AsyncIterator[None]:
        if self.dialect != "sqlite":
            yield
            return
        async with self._write_lock:
            yield

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Yield a session for reads only; it never takes the SQLite write lock."""
        async with self.sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


_KEPT_KEY = "miportal.kept_rows"


async def get_kept(session: AsyncSession, model: type[_Row], key: Any) -> _Row | None:
    """Return `session.get(model, key)` and keep the row referenced until the session
    ends. The identity map holds rows weakly, so a row that nobody references would be
    read again by the next `get` of the same transaction."""
    row = await session.get(model, key)
    if row is not None:
        session.info.setdefault(_KEPT_KEY, {})[(model, key)] = row
    return row


async def core_connection(session: AsyncSession) -> AsyncConnection:
    """Return the connection of `session`'s current transaction, for Core statements.

    It is `await session.connection()`, kept in the session until its transaction
    ends, because each call of that crosses into SQLAlchemy's greenlet and a new
    ticket runs a dozen Core statements."""
    transaction = session.sync_session.get_transaction()
    stored = session.info.get(_CONNECTION_KEY)
    if stored is not None and transaction is not None and stored[0] is transaction:
        connection: AsyncConnection = stored[1]
        return connection
    connection = await session.connection()
    session.info[_CONNECTION_KEY] = (session.sync_session.get_transaction(), connection)
    return connection


async def insert_row(session: AsyncSession, row: Any) -> None:
    """Insert `row`, a new object of a table model, with one INSERT, and add it to
    `session` as a stored row.

    `session.add` and a flush would write the same row, but the unit of work costs
    several times the INSERT itself. Columns left None that have a default (the
    primary key among them) get it from the database, and the INSERT returns their
    values to the object. Later changes to the row are flushed as usual."""
    model = type(row)
    columns = _COLUMNS.get(model)
    if columns is None:
        columns = _COLUMNS[model] = _insert_columns(model)
    # The row's attributes are read and written in its `__dict__`, where SQLAlchemy
    # keeps them: the row becomes a stored one below, so no change events are wanted.
    attributes = row.__dict__
    values = {}
    returned = []
    for key, column, defaulted in columns:
        value = attributes.get(key)
        if value is None and defaulted:
            returned.append(key)
            continue
        values[column] = value
        # Every attribute is set, so the stored row never loads one on access, which
        # an async session cannot do implicitly.
        attributes[key] = value
    names = tuple(returned)
    statement = _INSERTS.get((model, names))
    if statement is None:
        table = inspect_model(model).local_table
        statement = table.insert()
        if returned:
            statement = statement.returning(
                *(table.c[column] for key, column, _ in columns if key in returned))
        _INSERTS[(model, names)] = statement
    result = await (await core_connection(session)).execute(statement, values)
    if returned:
        attributes.update(zip(returned, result.one(), strict=True))
    make_transient_to_detached(row)
    session.add(row)


def _insert_columns(model: type) -> tuple[tuple[str, str, bool], ...]:
    """Return each column attribute of `model` as (attribute, column, whether the
    database gives it a value when the row leaves it None)."""
    columns: list[tuple[str, str, bool]] = []
    prop: ColumnProperty[Any]
    for prop in inspect_model(model).column_attrs:
        column: Column[Any] = prop.columns[0]
        defaulted = bool(column.primary_key or column.default is not None
                         or column.server_default is not None)
        columns.append((prop.key, str(column.key), defaulted))
    return tuple(columns)


# Per model: its columns, and one INSERT ... RETURNING per set of returned columns,
# built once so that its compiled form is cached.
_COLUMNS: dict[type, tuple[tuple[str, str, bool], ...]] = {}
_INSERTS: dict[tuple[type, tuple[str, ...]], Insert] = {}


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run `callback` after the transaction of `session` commits (only with
    `Database.transaction`)."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite+aiosqlite"):
        # The driver runs the statements of `Database.transaction` on the event loop's
        # thread, so the connection (made on aiosqlite's thread) must allow that.
        return {"connect_args": {"timeout": 30, "check_same_thread": False},
                "module": sqlite_driver.module()}
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_size": 10, "max_overflow": 20, "pool_pre_ping": True}


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (the pysqlite recipe in the
    # SQLAlchemy docs), because the driver's implicit BEGIN is always DEFERRED.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_sqlite(connection: Any) -> None:
    options = connection.get_execution_options()
    # SQLite changes the level only outside a transaction, so it is set before BEGIN,
    # and set back by the next transaction that does not ask for it.
    level = options.get(_SQLITE_SYNCHRONOUS, "NORMAL")
    record = connection.connection.info
    if record.get(_SQLITE_SYNCHRONOUS, "NORMAL") != level:
        connection.exec_driver_sql(f"PRAGMA synchronous={level}")
        record[_SQLITE_SYNCHRONOUS] = level
    connection.exec_driver_sql(f"BEGIN {options.get(_SQLITE_BEGIN, 'DEFERRED')}")
