"""Fixtures for the mail gateway's tests: a migrated database of their own, a
workspace, and a gateway with a known secret."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from portal.db import Database
from portal.mail.outbound_relay import RelayConfig
from portal.mail.outbox import MailGateway
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.tenants import do_create_tenant
from tests.support import create_database, drop_database

SECRET = "mail test secret key that is long enough"


@pytest.fixture(scope="session")
def portal_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a database with the portal's tables, migrated once per run and copied
    per test."""

    async def migrate() -> str:
        url = await create_database(tmp_path_factory.mktemp("mail-template"), "portal")
        database = Database(url)
        try:
            await upgrade(database, [PORTAL_BRANCH], build_config())
        finally:
            await database.dispose()
        return url

    return asyncio.run(migrate())


@pytest.fixture
async def db(tmp_path: Path, portal_template: str) -> AsyncIterator[Database]:
    database = Database(await create_database(tmp_path, "portal", template=portal_template))
    yield database
    await database.dispose()
    await drop_database(database.url)


@pytest.fixture
def gateway() -> MailGateway:
    """A gateway with a relay, so that staged mail is queued for delivery. No test that
    uses it runs a delivery worker, so nothing connects to the relay."""
    return MailGateway(secret_key=SECRET, public_url="https://portal.example.com",
                       default_relay=RelayConfig("127.0.0.1", 9))


async def create_tenant(db: Database, slug: str) -> int:
    async with db.transaction() as session:
        tenant = await do_create_tenant(session, slug=slug, name=slug.title())
    assert tenant.id is not None
    return tenant.id


@pytest.fixture
async def tenant_id(db: Database) -> int:
    return await create_tenant(db, "acme")
