"""The migration ticketcloud_0014 adds the agent-set due time of tickets and turns each
SLA target's warning minutes into the exact seconds of its policy; its downgrade rounds
them back up to whole minutes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from portal.db import Database
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from tests.apps.ticketcloud.conftest import MIGRATIONS
from tests.apps.ticketcloud.test_migration_sla_seconds import execute, migrate
from tests.support import create_database, drop_database, stored_time

BEFORE = "ticketcloud_0013"
REVISION = "ticketcloud_0014"
STARTED = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
async def old_db(tmp_path: Path) -> AsyncIterator[Database]:
    """A database with the portal at its head and TicketCloud at the revision before
    ticketcloud_0014."""
    database = Database(await create_database(tmp_path, "due_times"))
    config = build_config([MIGRATIONS])
    await upgrade(database, [PORTAL_BRANCH], config)
    await migrate(database, config, "upgrade", BEFORE)
    yield database
    await database.dispose()
    await drop_database(database.url)


async def columns(db: Database, table: str) -> set[str]:
    def read(connection: Connection) -> set[str]:
        return {column["name"] for column in inspect(connection).get_columns(table)}

    async with db.engine.connect() as connection:
        return await connection.run_sync(read)


async def indexes(db: Database, table: str) -> set[str]:
    def read(connection: Connection) -> set[str]:
        return {str(index["name"]) for index in inspect(connection).get_indexes(table)}

    async with db.engine.connect() as connection:
        return await connection.run_sync(read)


async def add_targets(db: Database) -> None:
    """Insert a tenant, a ticket, a policy of 3 minutes warning at 50 %, and two running
    targets with the columns of revision ticketcloud_0013: one of that policy (warning
    after 2 whole minutes) and one whose policy was deleted (warning after 5)."""
    started = stored_time(STARTED)
    await execute(
        db,
        "INSERT INTO portal_tenant (slug, name, created_at) VALUES ('acme', 'Acme', :started)",
        started=started,
    )
    await execute(
        db,
        "INSERT INTO ticketcloud_ticket (tenant_id, number, subject, requester_email, "
        "requester_name, channel, status, priority, tags, created_at, updated_at, version) "
        "SELECT id, 1, 'VPN down', 'c@example.com', 'Customer', 'web', 'open', 'normal', "
        "'[]', :started, :started, 1 FROM portal_tenant",
        started=started,
    )
    await execute(
        db,
        "INSERT INTO ticketcloud_sla_policy (tenant_id, position, name, enabled, "
        "conditions, first_response_minutes, warning_percent, escalation, created_at, "
        "updated_at) SELECT id, 0, 'Fast', true, '{}', 3, 50, '[]', :started, :started "
        "FROM portal_tenant",
        started=started,
    )
    for policy, target, warning in (
        ("(SELECT id FROM ticketcloud_sla_policy)", 3, 2),
        ("NULL", 6, 5),
    ):
        await execute(
            db,
            "INSERT INTO ticketcloud_sla_target (tenant_id, ticket_id, kind, state, "
            "policy_id, target_minutes, warning_minutes, consumed_seconds, started_at, "
            "warning_published, breach_published, updated_at) "
            f"SELECT tenant_id, id, 'first_response', 'paused', {policy}, :target, "
            ":warning, 0, :started, false, false, :started FROM ticketcloud_ticket",
            target=target,
            warning=warning,
            started=started,
        )


async def test_migration_adds_due_and_exact_warnings(old_db: Database) -> None:
    await add_targets(old_db)

    await migrate(old_db, build_config([MIGRATIONS]), "upgrade", REVISION)
    rows = await execute(old_db, "SELECT warning_seconds FROM ticketcloud_sla_target ORDER BY id")
    due = await execute(old_db, "SELECT due_at FROM ticketcloud_ticket")
    target_columns = await columns(old_db, "ticketcloud_sla_target")

    assert [row[0] for row in rows] == [90, 300]
    assert "warning_minutes" not in target_columns
    assert [row[0] for row in due] == [None]
    assert "due_at" in await columns(old_db, "ticketcloud_ticket")
    assert "ix_ticketcloud_ticket_due" in await indexes(old_db, "ticketcloud_ticket")


async def test_migration_downgrade_rounds_warning_up(old_db: Database) -> None:
    await add_targets(old_db)
    config = build_config([MIGRATIONS])
    await migrate(old_db, config, "upgrade", REVISION)

    await migrate(old_db, config, "downgrade", BEFORE)
    rows = await execute(old_db, "SELECT warning_minutes FROM ticketcloud_sla_target ORDER BY id")

    assert [row[0] for row in rows] == [2, 5]
    assert "warning_seconds" not in await columns(old_db, "ticketcloud_sla_target")
    assert "due_at" not in await columns(old_db, "ticketcloud_ticket")
    assert "ix_ticketcloud_ticket_due" not in await indexes(old_db, "ticketcloud_ticket")
