"""Fixtures for the event tests: a migrated database of their own and tenants in it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from portal.db import Database
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.tenants import do_create_tenant
from tests.support import create_database, drop_database

CreateTenant = Callable[[], Awaitable[int]]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A fresh database with the portal's tables, migrated as the server migrates it."""
    database = Database(await create_database(tmp_path, "events"))
    await upgrade(database, [PORTAL_BRANCH], build_config())
    yield database
    await database.dispose()
    await drop_database(database.url)


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
