"""What the sync hook costs a ticket change: on an installation without a master, one
lookup of the master per transaction and nothing else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from portal.db import Database
from portal.sdk import AppContext
from tests.apps.ticketcloud.conftest import Workspace, create_ticket
from tests.apps.ticketcloud.sync_helpers import configure_master

SYNC_TABLES = re.compile(r"\b(portal_sync_\w+|ticketcloud_sync_ticket)\b")


@contextmanager
def recorded_statements(db: Database) -> Iterator[list[str]]:
    """Record the SQL text of every statement `db` runs inside the block."""
    statements: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


def sync_statements(statements: list[str]) -> list[str]:
    return [statement for statement in statements if SYNC_TABLES.search(statement)]


async def test_create_ticket_without_master_checks_master_once(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    with recorded_statements(db) as statements:
        await create_ticket(context, workspace)

    touched = sync_statements(statements)
    assert len(touched) == 1
    assert "portal_sync_master" in touched[0]
    assert not any("ticketcloud_attachment" in statement for statement in statements)


async def test_create_ticket_with_master_stages_one_item(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    await configure_master(db)
    with recorded_statements(db) as statements:
        await create_ticket(context, workspace)

    inserts = [statement for statement in statements
               if statement.startswith("INSERT INTO portal_sync_outbox")]
    master_lookups = [statement for statement in statements
                      if "FROM portal_sync_master" in statement]
    assert len(inserts) == 1
    assert len(master_lookups) == 1
