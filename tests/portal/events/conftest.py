"""Fixtures for the event tests: a migrated SQLite file of their own and tenants in it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from portal.db import Database
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.tenants import do_create_tenant

CreateTenant = Callable[[], Awaitable[int]]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh SQLite file with the portal's tables, migrated as the server migrates it."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'events.sqlite3'}")
    await upgrade(database, [PORTAL_BRANCH], build_config())
    yield database
    await database.dispose()


@pytest.fixture
def create_tenant(db: Database) -> CreateTenant:
    """Return a function that creates a tenant (with its event counter) and returns its id."""
    created = 0

    async def create() -> int:
        nonlocal created
        created += 1
        async with db.transaction() as session:
            tenant = await do_create_tenant(session, slug=f"tenant-{created}",
                                            name=f"Tenant {created}")
        assert tenant.id is not None
        return tenant.id

    return create
