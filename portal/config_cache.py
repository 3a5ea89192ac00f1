"""A per-process cache of configuration that each read checks against the database.

Every new ticket reads its workspace's configuration: the sender and relay of its mail,
its support addresses, its rules, SLA policies and templates. That configuration changes
rarely, so reading it from the database for every ticket costs more than writing the
ticket's own rows.

Each table that contains such configuration has triggers that write a new random version
into its workspace's row of `portal_config_version`, in the
transaction that changes the table. They fire whatever makes the change: the ORM, a Core
statement, another portal process, a migration or someone at the database's prompt, so
no write path can leave a cache stale. The migration portal_0009 adds them to the
portal's tables and ticketcloud_0016 to TicketCloud's. On PostgreSQL a trigger calls
`portal_config_changed('<tenant id column>')`, a function that portal_0009 creates; on
SQLite each trigger runs the upsert itself.

`cached` reads the version row of a workspace, one primary-key lookup, and returns the
value kept under that same version, or loads it in the caller's transaction and keeps
it. The version is read before the value is loaded, so a kept value is never older than
its version: a change committed in between gives the next read a version that no kept
value has.

Versions are random 64-bit numbers rather than a counter, because a transaction that
changes configuration and then rolls back may have kept a value under its own version.
A counter would hand that number to the next change, with other content. A workspace
without a version row (portal_0009 gives every workspace one, and creating a workspace
fires its trigger) is loaded on every read and never kept.

Values are kept per database engine, so the databases of several portals in one process
(as in the tests) never share them. Keep only values that nothing changes: frozen
dataclasses, tuples and strings, never rows that a session tracks.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Delete,
    Engine,
    Insert,
    Table,
    Update,
    bindparam,
    event,
    select,
)
from sqlalchemy.engine import ExecutionContext
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import core_connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

TABLE = "portal_config_version"
# Values kept per engine; past it the oldest is dropped. A value is a few rows' worth of
# configuration, so this bounds the cache to a few megabytes.
MAX_ENTRIES = 4096


class ConfigVersion(SQLModel, table=True):
    """The current version of a workspace's configuration: a random number that
    triggers replace whenever a configuration row of the workspace changes."""

    __tablename__ = TABLE

    # No foreign key: deleting a workspace fires its trigger, which writes this row.
    tenant_id: int = Field(sa_column=Column(BigInteger, primary_key=True,
                                            autoincrement=False))
    version: int = Field(sa_column=Column(BigInteger, nullable=False))


# Execution options for a write to a table that cached values read, when the write
# changes only columns that the table's triggers leave out, such as the round-robin
# cursor of a TicketCloud team. The transaction then keeps the versions it read.
_NO_CHANGE_OPTION = "miportal_no_config_change"
NO_CONFIG_CHANGE = {_NO_CHANGE_OPTION: True}

_VERSION = (select(ConfigVersion.version)  # type: ignore[call-overload]
            .where(ConfigVersion.tenant_id == bindparam("tenant_id")))

_caches: weakref.WeakKeyDictionary[Engine, dict[tuple[int, str], tuple[int, Any]]] = (
    weakref.WeakKeyDictionary())
# The versions each connection read in its current transaction, by tenant. Keyed by the
# Connection object rather than kept in its `info`, because `_forget` runs during a
# rollback, when reading `info` of a connection whose transaction failed raises.
_read: weakref.WeakKeyDictionary[Connection, dict[int, int]] = weakref.WeakKeyDictionary()


async def cached(session: AsyncSession, tenant_id: int, key: str,
                 load: Callable[[AsyncSession, int], Awaitable[T]], *,
                 tables: tuple[Any, ...]) -> T:
    """Return what `load(session, tenant_id)` returns for `key` in the workspace, from
    the cache while the workspace's configuration has not changed.

    `key` names what `load` reads, including any argument that changes its result, such
    as "ticketcloud.rules" or "portal.mail.addresses:ticketcloud". `tables` are the
    table models (or tables) that `load` reads, each with the version triggers; pass a
    tuple built once, such as a module constant. `load` runs in the caller's
    transaction, so inside a transaction that changed configuration it reads the change.

    A transaction reads a workspace's version once and keeps it until the version may
    have changed. These make it forget the versions read (`_forget`):
    - a write to a table that some cached value reads, or to a table whose deletes
      cascade into one, unless the statement runs with the execution options
      `NO_CONFIG_CHANGE`;
    - any statement other than SQLAlchemy's INSERT, UPDATE, DELETE or SELECT, such as
      plain SQL text;
    - ROLLBACK TO SAVEPOINT and the end of the transaction.
    Writes to other tables, such as a new ticket's rows, keep them."""
    connection = (await core_connection(session)).sync_connection
    assert connection is not None
    if tables not in _registered:
        _register(tables)
        # A write earlier in this transaction to a table seen for the first time kept
        # the versions read, so they are read again.
        _forget(connection)
    read = _read.get(connection)
    version = read.get(tenant_id) if read is not None else None
    if version is None:
        version = (await (await core_connection(session)).execute(
            _VERSION, {"tenant_id": tenant_id})).scalar_one_or_none()
        if version is None:
            return await load(session, tenant_id)
        if read is None:
            read = _read[connection] = {}
        read[tenant_id] = version
    entries = _caches.get(connection.engine)
    if entries is None:
        entries = _caches[connection.engine] = {}
        _watch(connection.engine)
    entry = entries.get((tenant_id, key))
    if entry is not None and entry[0] == version:
        value: T = entry[1]
        return value
    value = await load(session, tenant_id)
    logger.debug("Loaded %s of tenant %s for the configuration cache", key, tenant_id)
    if len(entries) >= MAX_ENTRIES and (tenant_id, key) not in entries:
        del entries[next(iter(entries))]
    entries[(tenant_id, key)] = (version, value)
    return value


# The names of the tables that cached values read, with the tables whose deletes or key
# updates cascade into them through foreign keys, and the `tables` arguments seen.
_watched: set[str] = set()
_registered: set[tuple[Any, ...]] = set()
_CASCADING = {"CASCADE", "SET NULL", "SET DEFAULT"}


def _register(tables: tuple[Any, ...]) -> None:
    waiting: list[Table] = [getattr(table, "__table__", table) for table in tables]
    while waiting:
        table = waiting.pop()
        if table.name in _watched:
            continue
        _watched.add(table.name)
        for key in table.foreign_keys:
            actions = {(key.ondelete or "").upper(), (key.onupdate or "").upper()}
            if actions & _CASCADING:
                waiting.append(key.column.table)
    _registered.add(tables)


def _watch(engine: Engine) -> None:
    """Make the engine's connections forget the versions they read whenever their
    transaction may have changed configuration or ended."""
    event.listen(engine, "after_cursor_execute", _after_execute)
    for name in ("commit", "rollback", "rollback_savepoint"):
        event.listen(engine, name, _forget)


def _after_execute(connection: Connection, _cursor: object, statement: str,
                   _parameters: object, context: ExecutionContext | None,
                   _executemany: bool) -> None:
    if connection not in _read or statement.startswith("SELECT"):
        return
    if context is not None and context.execution_options.get(_NO_CHANGE_OPTION):
        return
    table = _written_table(context)
    if table is None or table in _watched:
        _forget(connection)


def _written_table(context: ExecutionContext | None) -> str | None:
    """Return the name of the table that an INSERT, UPDATE or DELETE statement of
    SQLAlchemy writes, or None for any other statement, such as plain SQL text."""
    compiled = getattr(context, "compiled", None)
    statement = getattr(compiled, "statement", None)
    if not isinstance(statement, Insert | Update | Delete):
        return None
    return getattr(statement.table, "name", None)


def _forget(connection: Connection, *_args: object) -> None:
    _read.pop(connection, None)
