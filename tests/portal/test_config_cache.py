"""The configuration cache: values kept per engine, checked against the version that
triggers raise, whatever makes the change.

Two Database engines on one database stand for two portal processes. Each change below
goes through a different path (ORM, Core, plain SQL, another engine, a savepoint, a
rollback), and the cache must show it at the next read that should see it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table, event, text, update
from sqlmodel.ext.asyncio.session import AsyncSession

from portal import config_cache
from portal.config_cache import ConfigVersion, cached
from portal.db import Database
from portal.mail.inbound_addresses import do_set_mail_addresses, list_mail_addresses
from portal.mail.outbound_relay import do_update_mail_settings
from portal.mail.outbox import MailGateway, mail_profile
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.models import EventCounter, Tenant
from portal.sdk import InvalidInput, NotFound, workspace_name
from portal.tenants import do_create_tenant
from tests.support import create_database, drop_database


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    url = await create_database(tmp_path, "config_cache")
    database = Database(url)
    await upgrade(database, [PORTAL_BRANCH], build_config())
    await database.dispose()
    yield url
    await drop_database(url)


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    first, second = Database(database_url), Database(database_url)
    yield first, second
    await first.dispose()
    await second.dispose()


async def new_tenant(db: Database, slug: str = "acme") -> int:
    async with db.transaction() as session:
        tenant = await do_create_tenant(session, slug=slug, name="Acme")
        assert tenant.id is not None
        return tenant.id


NAME_TABLES = (Tenant,)


class CountingLoader:
    """A loader that returns the workspace's name and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, session: AsyncSession, tenant_id: int) -> str:
        self.calls += 1
        tenant = await session.get(Tenant, tenant_id)
        assert tenant is not None
        return tenant.name


async def cached_name(session: AsyncSession, tenant_id: int, loader: CountingLoader) -> str:
    return await cached(session, tenant_id, "test.name", loader, tables=NAME_TABLES)


async def read_name(db: Database, tenant_id: int, loader: CountingLoader) -> str:
    async with db.read() as session:
        return await cached_name(session, tenant_id, loader)


async def test_cache_loads_value_once(
        engines: tuple[Database, Database]) -> None:
    db, _ = engines
    tenant_id = await new_tenant(db)
    loader = CountingLoader()

    names = [await read_name(db, tenant_id, loader) for _ in range(3)]

    assert names == ["Acme"] * 3
    assert loader.calls == 1


async def test_new_workspace_gets_version(engines: tuple[Database, Database],
                                                       ) -> None:
    db, _ = engines
    tenant_id = await new_tenant(db)

    async with db.read() as session:
        row = await session.get(ConfigVersion, tenant_id)

    assert row is not None


@pytest.mark.parametrize("path", ["orm", "core", "sql"])
async def test_cache_reads_other_engine_change(
        engines: tuple[Database, Database], path: str) -> None:
    first, second = engines
    tenant_id = await new_tenant(first)
    loader = CountingLoader()
    assert await read_name(first, tenant_id, loader) == "Acme"

    async with second.transaction() as session:
        if path == "orm":
            tenant = await session.get(Tenant, tenant_id)
            assert tenant is not None
            tenant.name = "Acme Support"
            session.add(tenant)
        elif path == "core":
            await session.exec(update(Tenant).where(Tenant.id == tenant_id)  # type: ignore[arg-type]
                               .values(name="Acme Support"))
        else:
            await (await session.connection()).execute(
                text("UPDATE portal_tenant SET name = 'Acme Support' WHERE id = :id"),
                {"id": tenant_id})

    assert await read_name(first, tenant_id, loader) == "Acme Support"
    assert loader.calls == 2


async def test_cache_keeps_other_workspaces(engines: tuple[Database, Database]) -> None:
    db, _ = engines
    changed, other = await new_tenant(db, "acme"), await new_tenant(db, "globex")
    loader = CountingLoader()
    await read_name(db, changed, loader)
    await read_name(db, other, loader)

    async with db.transaction() as session:
        await (await session.connection()).execute(
            text("UPDATE portal_tenant SET name = 'Renamed' WHERE id = :id"), {"id": changed})
    await read_name(db, other, loader)

    assert loader.calls == 2
    assert await read_name(db, changed, loader) == "Renamed"


@pytest.mark.parametrize("path", ["orm", "core", "sql"])
async def test_cache_reads_own_change(engines: tuple[Database, Database], path: str) -> None:
    db, _ = engines
    tenant_id = await new_tenant(db)
    loader = CountingLoader()

    async with db.transaction() as session:
        before = await cached_name(session, tenant_id, loader)
        if path == "orm":
            tenant = await session.get(Tenant, tenant_id)
            assert tenant is not None
            tenant.name = "Inside"
            session.add(tenant)
            await session.flush()
        elif path == "core":
            await (await session.connection()).execute(
                update(Tenant.__table__).where(Tenant.__table__.c.id == tenant_id)  # type: ignore[attr-defined]
                .values(name="Inside"))
        else:
            await (await session.connection()).execute(
                text("UPDATE portal_tenant SET name = 'Inside' WHERE id = :id"),
                {"id": tenant_id})
        after = await cached_name(session, tenant_id, loader)

    assert (before, after) == ("Acme", "Inside")


def count_version_reads(db: Database) -> list[str]:
    """Return a list that collects the version reads of `db` from now on."""
    reads: list[str] = []

    def collect(_connection: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("SELECT") and "portal_config_version" in statement:
            reads.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", collect)
    return reads


async def test_other_table_write_keeps_version(engines: tuple[Database, Database]) -> None:
    """A write to a table that no cached value reads, such as a new ticket's rows, keeps
    the version the transaction read."""
    db, _ = engines
    tenant_id = await new_tenant(db)
    loader = CountingLoader()
    reads = count_version_reads(db)

    async with db.transaction() as session:
        await cached_name(session, tenant_id, loader)
        await (await session.connection()).execute(
            update(EventCounter.__table__)  # type: ignore[attr-defined]
            .where(EventCounter.__table__.c.tenant_id == tenant_id)  # type: ignore[attr-defined]
            .values(last_seq=EventCounter.__table__.c.last_seq + 1))  # type: ignore[attr-defined]
        await cached_name(session, tenant_id, loader)

    assert len(reads) == 1


@pytest.mark.parametrize("options", [{}, config_cache.NO_CONFIG_CHANGE])
async def test_watched_write_without_change_keeps_version(
        engines: tuple[Database, Database], options: dict[str, bool]) -> None:
    """A write to a watched table makes the transaction read the version again, unless
    it runs with NO_CONFIG_CHANGE, the mark of a column that the triggers leave out."""
    db, _ = engines
    tenant_id = await new_tenant(db)
    loader = CountingLoader()
    reads = count_version_reads(db)
    tenants = Tenant.__table__  # type: ignore[attr-defined]

    async with db.transaction() as session:
        await cached_name(session, tenant_id, loader)
        await (await session.connection()).execute(
            update(tenants).where(tenants.c.id == tenant_id).values(slug="acme-2")
            .execution_options(**options))
        await cached_name(session, tenant_id, loader)

    assert len(reads) == (1 if options else 2)


async def test_new_tables_read_version_again(engines: tuple[Database, Database],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The first value that reads a table makes the transaction read the version again,
    because a write to that table earlier in the transaction kept the old one."""
    db, _ = engines
    tenant_id = await new_tenant(db)
    async with db.read() as session:
        assert (await mail_profile(session, tenant_id)).from_address is None
    monkeypatch.setattr(config_cache, "_watched", set())
    monkeypatch.setattr(config_cache, "_registered", set())

    async with db.transaction() as session:
        await cached(session, tenant_id, "test.name", CountingLoader(), tables=NAME_TABLES)
        await do_update_mail_settings(session, tenant_id, {"from_address": "help@acme.example"})
        profile = await mail_profile(session, tenant_id)

    assert profile.from_address == "help@acme.example"


def test_cascading_parents_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deleting a parent row whose foreign keys cascade changes the child table, so the
    parent is watched with it."""
    monkeypatch.setattr(config_cache, "_watched", set())
    monkeypatch.setattr(config_cache, "_registered", set())
    metadata = MetaData()
    Table("grandparent", metadata, Column("id", Integer, primary_key=True))
    Table("parent", metadata, Column("id", Integer, primary_key=True),
          Column("up", ForeignKey("grandparent.id", ondelete="SET NULL")))
    Table("other", metadata, Column("id", Integer, primary_key=True))
    child = Table("child", metadata, Column("id", Integer, primary_key=True),
                  Column("parent_id", ForeignKey("parent.id", ondelete="CASCADE")),
                  Column("other_id", ForeignKey("other.id")))

    config_cache._register((child,))

    assert config_cache._watched == {"child", "parent", "grandparent"}


async def test_cache_drops_rolled_back_value(engines: tuple[Database, Database],
                                                        ) -> None:
    db, _ = engines
    tenant_id = await new_tenant(db)
    loader = CountingLoader()

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with db.transaction() as session:
            await (await session.connection()).execute(
                text("UPDATE portal_tenant SET name = 'Never' WHERE id = :id"),
                {"id": tenant_id})
            assert await cached_name(session, tenant_id, loader) == "Never"
            raise Undo

    assert await read_name(db, tenant_id, loader) == "Acme"
    # A later change that commits is served too, never the rolled-back value.
    async with db.transaction() as session:
        await (await session.connection()).execute(
            text("UPDATE portal_tenant SET name = 'Later' WHERE id = :id"), {"id": tenant_id})
    assert await read_name(db, tenant_id, loader) == "Later"


async def test_cache_drops_savepoint_value(engines: tuple[Database, Database],
                                                     ) -> None:
    db, _ = engines
    tenant_id = await new_tenant(db)
    loader = CountingLoader()

    async with db.transaction() as session:
        assert await cached_name(session, tenant_id, loader) == "Acme"
        savepoint = await session.begin_nested()
        await (await session.connection()).execute(
            text("UPDATE portal_tenant SET name = 'Nested' WHERE id = :id"), {"id": tenant_id})
        assert await cached_name(session, tenant_id, loader) == "Nested"
        await savepoint.rollback()
        assert await cached_name(session, tenant_id, loader) == "Acme"


async def test_cache_skips_unversioned_workspace(
        engines: tuple[Database, Database]) -> None:
    db, _ = engines
    tenant_id = await new_tenant(db)
    async with db.transaction() as session:
        await (await session.connection()).execute(
            text("DELETE FROM portal_config_version WHERE tenant_id = :id"), {"id": tenant_id})
    loader = CountingLoader()

    for _ in range(2):
        assert await read_name(db, tenant_id, loader) == "Acme"

    assert loader.calls == 2


async def test_cache_separates_engines(tmp_path: Path) -> None:
    """Two databases whose workspace has the same id and version (one copied from the
    other) never share a kept value."""
    first_url = await create_database(tmp_path, "first")
    first = Database(first_url)
    await upgrade(first, [PORTAL_BRANCH], build_config())
    tenant_id = await new_tenant(first)
    await first.dispose()
    second_url = await create_database(tmp_path, "second", template=first_url)
    first, second = Database(first_url), Database(second_url)
    try:
        async with first.read() as session:
            original = await session.get(ConfigVersion, tenant_id)
            assert original is not None
        async with second.transaction() as session:
            # Rename in the copy, then give it the original's version back, so that
            # only the engine keeps the two apart.
            for statement in ("UPDATE portal_tenant SET name = 'Copy' WHERE id = :id",
                              "UPDATE portal_config_version SET version = :version "
                              "WHERE tenant_id = :id"):
                await (await session.connection()).execute(
                    text(statement), {"id": tenant_id, "version": original.version})
        loader = CountingLoader()
        assert await read_name(first, tenant_id, loader) == "Acme"
        assert await read_name(second, tenant_id, loader) == "Copy"
    finally:
        await first.dispose()
        await second.dispose()
        await drop_database(first_url)
        await drop_database(second_url)


async def test_mail_profile_follows_changes(
        engines: tuple[Database, Database]) -> None:
    first, second = engines
    tenant_id = await new_tenant(first)
    gateway = MailGateway(secret_key="config cache test key " + "x" * 20,
                          public_url="https://portal.example.com")
    async with first.read() as session:
        assert (await gateway.sender(session, tenant_id)).email == "acme@portal.example.com"
        assert await list_mail_addresses(session, tenant_id, "ticketcloud") == []

    async with second.transaction() as session:
        await do_update_mail_settings(session, tenant_id, {
            "from_address": "help@acme.example", "relay_host": "127.0.0.1"})
        await do_set_mail_addresses(session, tenant_id, "ticketcloud", ["help@acme.example"])

    async with first.read() as session:
        sender = await gateway.sender(session, tenant_id)
        relay = await gateway.relay_for(session, tenant_id)
        addresses = await list_mail_addresses(session, tenant_id, "ticketcloud")
        name = await workspace_name(session, tenant_id)
    assert sender.email == "help@acme.example"
    assert relay is not None and relay.host == "127.0.0.1"
    assert addresses == ["help@acme.example"]
    assert name == "Acme"


async def test_unknown_workspace_not_found(engines: tuple[Database, Database]) -> None:
    db, _ = engines
    async with db.read() as session:
        with pytest.raises(NotFound, match="Workspace 999 not found"):
            await workspace_name(session, 999)
        with pytest.raises(InvalidInput, match="Tenant 999 not found"):
            await mail_profile(session, 999)


async def test_rollback_of_invalidated_connection(engines: tuple[Database, Database]) -> None:
    """A connection whose transaction failed (here invalidated, as a cancelled query on
    PostgreSQL leaves it) still rolls back once the cache watches its engine."""
    db, _ = engines
    tenant_id = await new_tenant(db)
    await read_name(db, tenant_id, CountingLoader())

    async with db.engine.connect() as connection:
        await connection.begin()
        await connection.invalidate()
        await connection.rollback()

    assert await read_name(db, tenant_id, CountingLoader()) == "Acme"
