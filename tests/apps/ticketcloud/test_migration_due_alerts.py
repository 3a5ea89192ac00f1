"""The migration ticketcloud_0018 adds each ticket's `due_alerted` flag: false for
existing tickets, true for those whose due time had already passed (so upgrading sends
no burst of late reminders), with the scan job's index; its downgrade removes both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from portal.db import Database
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.sdk import utcnow
from tests.apps.ticketcloud.conftest import MIGRATIONS
from tests.apps.ticketcloud.test_migration_sla_seconds import execute, migrate
from tests.support import create_database, drop_database, stored_time

BEFORE = "ticketcloud_0017"
REVISION = "ticketcloud_0018"
INDEX = "ix_ticketcloud_ticket_due_alert"


@pytest.fixture
async def old_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A database with the portal at its head and TicketCloud at ticketcloud_0017."""
    database = Database(await create_database(tmp_path, "due_alerts"))
    config = build_config([MIGRATIONS])
    await upgrade(database, [PORTAL_BRANCH], config)
    await migrate(database, config, "upgrade", BEFORE)
    yield database
    await database.dispose()
    await drop_database(database.url)


async def add_tickets(db: Database) -> None:
    """Insert a tenant and three tickets with the columns of ticketcloud_0017: due an
    hour ago, due in an hour, and without a due time."""
    now = utcnow()
    await execute(db, "INSERT INTO portal_tenant (slug, name, created_at) "
                  "VALUES ('acme', 'Acme', :now)", now=stored_time(now))
    for number, due in ((1, now - timedelta(hours=1)), (2, now + timedelta(hours=1)),
                        (3, None)):
        await execute(
            db,
            "INSERT INTO ticketcloud_ticket (tenant_id, number, subject, requester_email, "
            "requester_name, channel, status, priority, tags, created_at, updated_at, "
            "due_at, version) SELECT id, :number, 'VPN down', 'c@example.com', "
            "'Customer', 'web', 'open', 'normal', '[]', :now, :now, :due, 1 "
            "FROM portal_tenant",
            number=number, now=stored_time(now),
            due=stored_time(due) if due is not None else None)


async def ticket_schema(db: Database) -> tuple[set[str], set[str]]:
    """Return the column names and index names of the ticket table."""

    def read(connection: Connection) -> tuple[set[str], set[str]]:
        inspector = inspect(connection)
        return ({column["name"] for column in inspector.get_columns("ticketcloud_ticket")},
                {str(index["name"]) for index in inspector.get_indexes("ticketcloud_ticket")})

    async with db.engine.connect() as connection:
        return await connection.run_sync(read)


async def test_migration_0018_flags_only_passed_due_times(old_db: Database) -> None:
    await add_tickets(old_db)

    await migrate(old_db, build_config([MIGRATIONS]), "upgrade", REVISION)
    rows = await execute(old_db, "SELECT number, due_alerted FROM ticketcloud_ticket "
                         "ORDER BY number")
    columns, indexes = await ticket_schema(old_db)

    assert [(number, bool(flag)) for number, flag in rows] == [
        (1, True), (2, False), (3, False)]
    assert "due_alerted" in columns
    assert INDEX in indexes


async def test_migration_0018_server_default_for_new_rows(old_db: Database) -> None:
    await migrate(old_db, build_config([MIGRATIONS]), "upgrade", REVISION)

    # A row written without the column, as by code that predates it, gets false.
    await add_tickets(old_db)
    rows = await execute(old_db, "SELECT due_alerted FROM ticketcloud_ticket")

    assert [bool(flag) for (flag,) in rows] == [False, False, False]


async def test_migration_0018_downgrade_drops_flag_and_index(old_db: Database) -> None:
    await add_tickets(old_db)
    config = build_config([MIGRATIONS])
    await migrate(old_db, config, "upgrade", REVISION)

    await migrate(old_db, config, "downgrade", BEFORE)
    columns, indexes = await ticket_schema(old_db)
    rows = await execute(old_db, "SELECT COUNT(*) FROM ticketcloud_ticket")

    assert "due_alerted" not in columns
    assert INDEX not in indexes
    assert rows[0][0] == 3
