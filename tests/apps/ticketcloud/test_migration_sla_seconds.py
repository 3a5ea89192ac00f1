"""The migration ticketcloud_0012 turns each SLA target's consumed minutes into seconds,
and its downgrade turns them back, rounding down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect, text

from portal.db import Database
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from tests.apps.ticketcloud.conftest import MIGRATIONS
from tests.support import create_database, drop_database, stored_time

BEFORE = "ticketcloud_0011"
REVISION = "ticketcloud_0012"
STARTED = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
async def old_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A database with the portal at its head and TicketCloud at the revision before
    ticketcloud_0012."""
    database = Database(await create_database(tmp_path, "sla_seconds"))
    config = build_config([MIGRATIONS])
    await upgrade(database, [PORTAL_BRANCH], config)
    await migrate(database, config, "upgrade", BEFORE)
    yield database
    await database.dispose()
    await drop_database(database.url)


async def migrate(db: Database, config: Config, direction: str, revision: str) -> None:
    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)

    async with db.write_connection() as connection:
        await connection.run_sync(run)


async def execute(db: Database, statement: str, **params: Any) -> list[Any]:
    async with db.write_connection() as connection:
        result = await connection.execute(text(statement), params)
        return list(result.all()) if result.returns_rows else []


async def target_columns(db: Database) -> set[str]:
    def read(connection: Connection) -> set[str]:
        return {
            column["name"] for column in inspect(connection).get_columns("ticketcloud_sla_target")
        }

    async with db.engine.connect() as connection:
        return await connection.run_sync(read)


async def add_targets(db: Database, consumed_minutes: list[int]) -> None:
    """Insert a tenant, one ticket and one paused resolution target per amount, with
    the columns of revision ticketcloud_0011."""
    started = stored_time(STARTED)
    await execute(
        db,
        "INSERT INTO portal_tenant (slug, name, created_at) VALUES ('acme', 'Acme', :started)",
        started=started,
    )
    await execute(
        db,
        "INSERT INTO ticketcloud_ticket (tenant_id, number, subject, "
        "requester_email, requester_name, channel, status, priority, tags, "
        "created_at, updated_at, version) SELECT id, 1, 'VPN down', "
        "'c@example.com', 'Customer', 'web', 'pending', 'normal', '[]', "
        ":started, :started, 1 FROM portal_tenant",
        started=started,
    )
    for minutes in consumed_minutes:
        await execute(
            db,
            "INSERT INTO ticketcloud_sla_target (tenant_id, ticket_id, kind, "
            "state, target_minutes, warning_minutes, consumed_minutes, "
            "started_at, warning_published, breach_published, updated_at) "
            "SELECT tenant_id, id, 'resolution', 'paused', 480, 384, :minutes, "
            ":started, false, false, :started FROM ticketcloud_ticket",
            minutes=minutes,
            started=started,
        )


async def test_migration_converts_minutes_to_seconds(old_db: Database) -> None:
    await add_targets(old_db, [0, 45, 527_040])

    await migrate(old_db, build_config([MIGRATIONS]), "upgrade", REVISION)
    rows = await execute(old_db, "SELECT consumed_seconds FROM ticketcloud_sla_target ORDER BY id")
    columns = await target_columns(old_db)

    assert [row[0] for row in rows] == [0, 45 * 60, 527_040 * 60]
    assert "consumed_seconds" in columns
    assert "consumed_minutes" not in columns


async def test_migration_downgrade_rounds_seconds_down(old_db: Database) -> None:
    await add_targets(old_db, [45])
    config = build_config([MIGRATIONS])
    await migrate(old_db, config, "upgrade", REVISION)
    await execute(
        old_db,
        "UPDATE ticketcloud_sla_target SET consumed_seconds = :seconds",
        seconds=45 * 60 + 59,
    )

    await migrate(old_db, config, "downgrade", BEFORE)
    rows = await execute(old_db, "SELECT consumed_minutes FROM ticketcloud_sla_target")
    columns = await target_columns(old_db)

    assert [row[0] for row in rows] == [45]
    assert "consumed_seconds" not in columns
