"""Sign-in checks and throttling against a real, migrated SQLite database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select

from portal.auth.signin import (
    INVALID_CREDENTIALS,
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ADDRESS,
    THROTTLE_WINDOW,
    account_key,
    authenticate,
    do_record_failure,
)
from portal.db import Database, utcnow
from portal.errors import InvalidInput, TooManyRequests
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.models import LoginAttempt, User
from portal.tenants import do_create_tenant, do_create_user

PASSWORD = "correct horse battery"
ADDRESS = "192.0.2.10"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'miportal.sqlite3'}")
    await upgrade(database, [PORTAL_BRANCH], build_config())
    async with database.transaction() as session:
        tenant = await do_create_tenant(session, slug="acme", name="Acme")
        assert tenant.id is not None
        for email in ("ada@acme.example", "bob@acme.example"):
            await do_create_user(session, tenant_id=tenant.id, email=email, name="User",
                                 role="agent", password=PASSWORD)
    yield database
    await database.dispose()


async def sign_in(db: Database, *, email: str = "ada@acme.example", password: str = PASSWORD,
                  address: str = ADDRESS, workspace: str = "acme") -> User:
    async with db.transaction() as session:
        return await authenticate(session, workspace=workspace, email=email, password=password,
                                  client_address=address)


async def fail(db: Database, *, email: str = "ada@acme.example", address: str = ADDRESS,
               count: int = 1) -> None:
    async with db.transaction() as session:
        for _ in range(count):
            await do_record_failure(session, workspace="acme", email=email,
                                    client_address=address)


async def attempts(db: Database) -> int:
    async with db.read() as session:
        return (await session.exec(select(func.count()).select_from(LoginAttempt))).one()


def test_account_key_normalizes() -> None:
    assert account_key(" ACME ", "Ada@Acme.Example ") == account_key("acme", "ada@acme.example")
    assert account_key("acme", "ada@acme.example") != account_key("acme", "bob@acme.example")
    assert account_key("ac", "me\x1fada") != account_key("acme", "ada")


async def test_authenticate_success(db: Database) -> None:
    user = await sign_in(db)

    assert user.email == "ada@acme.example"


async def test_authenticate_wrong_password(db: Database) -> None:
    with pytest.raises(InvalidInput) as caught:
        await sign_in(db, password="wrong password")

    assert caught.value.message == INVALID_CREDENTIALS
    assert caught.value.status == 401
    assert caught.value.code == "invalid_credentials"


async def test_authenticate_throttles_account(db: Database) -> None:
    await fail(db, count=MAX_FAILURES_PER_ACCOUNT)

    with pytest.raises(TooManyRequests) as caught:
        await sign_in(db)

    assert caught.value.retry_after == int(THROTTLE_WINDOW.total_seconds())
    assert (await sign_in(db, email="bob@acme.example")).email == "bob@acme.example"


async def test_authenticate_below_account_limit(db: Database) -> None:
    await fail(db, count=MAX_FAILURES_PER_ACCOUNT - 1)

    await sign_in(db)

    assert await attempts(db) == 0


async def test_authenticate_throttles_address(db: Database) -> None:
    async with db.transaction() as session:
        for index in range(MAX_FAILURES_PER_ADDRESS):
            await do_record_failure(session, workspace="acme", email=f"guess{index}@x.example",
                                    client_address=ADDRESS)

    with pytest.raises(TooManyRequests):
        await sign_in(db, email="bob@acme.example")
    assert (await sign_in(db, email="bob@acme.example", address="192.0.2.99")).id is not None


async def test_authenticate_ignores_old_failures(db: Database) -> None:
    long_ago = utcnow() - THROTTLE_WINDOW - timedelta(seconds=1)
    async with db.transaction() as session:
        for _ in range(MAX_FAILURES_PER_ACCOUNT):
            session.add(LoginAttempt(account_key=account_key("acme", "ada@acme.example"),
                                     client_address=ADDRESS, attempted_at=long_ago))

    assert (await sign_in(db)).email == "ada@acme.example"


async def test_authenticate_success_keeps_others_failures(db: Database) -> None:
    await fail(db, email="bob@acme.example", count=2)

    await sign_in(db)

    assert await attempts(db) == 2
