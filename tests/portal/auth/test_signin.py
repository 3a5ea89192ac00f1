"""Sign-in checks and throttling against a real, migrated database, with two Database
engines standing in for two portal processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from portal.auth.signin import (
    ACCOUNT_FAILURES,
    INVALID_CREDENTIALS,
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ADDRESS,
    THROTTLE_WINDOW,
    account_key,
    authenticate,
    do_clear_failures,
    do_settle_success,
    do_start_attempt,
)
from portal.db import Database
from portal.errors import InvalidInput, TooManyRequests
from portal.mail.compose import derive_key
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.models import User
from portal.rate_limits import RateLimiter
from portal.tenants import do_create_tenant, do_create_user
from tests.support import create_database, drop_database

PASSWORD = "correct horse battery"
ADDRESS = "192.0.2.10"
KEY = derive_key("test secret", "rate-limit")


@pytest.fixture
async def engines(tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    url = await create_database(tmp_path, "signin")
    first, second = Database(url), Database(url)
    await upgrade(first, [PORTAL_BRANCH], build_config())
    async with first.transaction() as session:
        tenant = await do_create_tenant(session, slug="acme", name="Acme")
        assert tenant.id is not None
        for email in ("ada@acme.example", "bob@acme.example"):
            await do_create_user(
                session,
                tenant_id=tenant.id,
                email=email,
                name="User",
                role="agent",
                password=PASSWORD,
            )
    yield first, second
    await first.dispose()
    await second.dispose()
    await drop_database(url)


@pytest.fixture
def limiter(engines: tuple[Database, Database]) -> RateLimiter:
    return RateLimiter(engines[0], KEY)


async def sign_in(
    limiter: RateLimiter,
    *,
    email: str = "ada@acme.example",
    password: str = PASSWORD,
    address: str = ADDRESS,
    workspace: str = "acme",
) -> User:
    """Sign in as the login route does: count the attempt, check, then settle."""
    attempt = await do_start_attempt(
        limiter, workspace=workspace, email=email, client_address=address
    )
    async with limiter.db.transaction() as session:
        user = await authenticate(
            session, workspace=workspace, email=email, password=password, client_address=address
        )
    await do_settle_success(limiter, attempt)
    return user


async def fail(
    limiter: RateLimiter, *, email: str = "ada@acme.example", address: str = ADDRESS, count: int = 1
) -> None:
    for _ in range(count):
        with pytest.raises(InvalidInput):
            await sign_in(limiter, email=email, address=address, password="wrong password")


async def account_failures(limiter: RateLimiter, email: str = "ada@acme.example") -> int:
    return (await limiter.peek(ACCOUNT_FAILURES, account_key("acme", email))).hits


def test_account_key_normalizes() -> None:
    assert account_key(" ACME ", "Ada@Acme.Example ") == account_key("acme", "ada@acme.example")
    assert account_key("acme", "ada@acme.example") != account_key("acme", "bob@acme.example")
    assert account_key("ac", "me\x1fada") != account_key("acme", "ada")


async def test_authenticate_success(limiter: RateLimiter) -> None:
    user = await sign_in(limiter)

    assert user.email == "ada@acme.example"


async def test_authenticate_wrong_password(limiter: RateLimiter) -> None:
    with pytest.raises(InvalidInput) as caught:
        await sign_in(limiter, password="wrong password")

    assert caught.value.message == INVALID_CREDENTIALS
    assert caught.value.status == 401
    assert caught.value.code == "invalid_credentials"
    assert await account_failures(limiter) == 1


async def test_authenticate_throttles_account(limiter: RateLimiter) -> None:
    await fail(limiter, count=MAX_FAILURES_PER_ACCOUNT)

    with pytest.raises(TooManyRequests) as caught:
        await sign_in(limiter)

    window = int(THROTTLE_WINDOW.total_seconds())
    assert 0 < caught.value.retry_after <= 2 * window
    assert caught.value.message.startswith("Too many failed sign-ins. Wait ")
    assert (await sign_in(limiter, email="bob@acme.example")).email == "bob@acme.example"


async def test_authenticate_throttled_attempt_not_counted(limiter: RateLimiter) -> None:
    await fail(limiter, count=MAX_FAILURES_PER_ACCOUNT)

    for _ in range(3):
        with pytest.raises(TooManyRequests):
            await sign_in(limiter)

    assert await account_failures(limiter) == MAX_FAILURES_PER_ACCOUNT


async def test_authenticate_below_account_limit(limiter: RateLimiter) -> None:
    await fail(limiter, count=MAX_FAILURES_PER_ACCOUNT - 1)

    await sign_in(limiter)

    assert await account_failures(limiter) == 0


async def test_authenticate_throttles_address(limiter: RateLimiter) -> None:
    for index in range(MAX_FAILURES_PER_ADDRESS):
        await fail(limiter, email=f"guess{index}@x.example")

    with pytest.raises(TooManyRequests):
        await sign_in(limiter, email="bob@acme.example")
    assert (await sign_in(limiter, email="bob@acme.example", address="192.0.2.99")).id


async def test_authenticate_success_frees_address(limiter: RateLimiter) -> None:
    for index in range(MAX_FAILURES_PER_ADDRESS - 1):
        await fail(limiter, email=f"guess{index}@x.example")

    for _ in range(5):
        await sign_in(limiter, email="bob@acme.example")

    await fail(limiter, email="last@x.example")
    with pytest.raises(TooManyRequests):
        await sign_in(limiter, email="bob@acme.example")


async def test_authenticate_success_keeps_others_failures(limiter: RateLimiter) -> None:
    await fail(limiter, email="bob@acme.example", count=2)

    await sign_in(limiter)

    assert await account_failures(limiter, "bob@acme.example") == 2


async def test_clear_failures_lifts_throttle(limiter: RateLimiter) -> None:
    await fail(limiter, count=MAX_FAILURES_PER_ACCOUNT)

    async with limiter.db.transaction() as session:
        await do_clear_failures(limiter, session, workspace="acme", email="ada@acme.example")

    assert (await sign_in(limiter)).email == "ada@acme.example"


async def test_concurrent_guesses_across_engines_limited(
    engines: tuple[Database, Database],
) -> None:
    limiters = [RateLimiter(db, KEY) for db in engines]

    async def guess(index: int) -> str:
        try:
            await sign_in(limiters[index % 2], password=f"guess {index}")
        except TooManyRequests:
            return "throttled"
        except InvalidInput:
            return "wrong"
        return "signed in"

    outcomes = await asyncio.gather(*(guess(index) for index in range(20)))

    assert outcomes.count("wrong") == MAX_FAILURES_PER_ACCOUNT
    assert outcomes.count("throttled") == 20 - MAX_FAILURES_PER_ACCOUNT
