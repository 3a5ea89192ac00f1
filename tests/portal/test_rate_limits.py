"""Rate limits in the database: the window math on a frozen clock, and limits that hold
exactly across two Database engines on one database, as two portal processes have."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from portal.db import Database
from portal.errors import InvalidInput
from portal.mail.compose import derive_key
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.rate_limits import (
    RateLimit,
    RateLimiter,
    RateLimitWindow,
    capacity,
    do_prune_rate_limits,
    retry_after,
    window_position,
)
from tests.support import create_database, drop_database

# A multiple of every window length used below, so tests start at a window's start.
START = 600 * 10_000
KEY = derive_key("test secret", "rate-limit")
LIMIT = RateLimit(name="test.form", max_hits=5, window_seconds=60)


class Clock:
    """A clock that only moves when the test moves it."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    url = await create_database(tmp_path, "rate_limits")
    database = Database(url)
    await upgrade(database, [PORTAL_BRANCH], build_config())
    await database.dispose()
    yield url
    await drop_database(url)


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two engines on one migrated database; they share nothing but the database."""
    first, second = Database(database_url), Database(database_url)
    yield first, second
    await first.dispose()
    await second.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def limiters(engines: tuple[Database, Database], clock: Clock) -> tuple[RateLimiter, ...]:
    return tuple(RateLimiter(db, KEY, clock=clock) for db in engines)


async def stored_windows(db: Database) -> list[RateLimitWindow]:
    async with db.read() as session:
        return list(
            (
                await session.exec(
                    select(RateLimitWindow).order_by(col(RateLimitWindow.window_start))
                )
            ).all()
        )


def test_window_position_at_start() -> None:
    position = window_position(LIMIT, START)

    assert position.start == START
    assert position.previous_start == START - 60
    assert position.previous_weight == 1.0


def test_window_position_weight_shrinks() -> None:
    position = window_position(LIMIT, START + 45)

    assert position.start == START
    assert position.previous_weight == pytest.approx(0.25)


def test_capacity_subtracts_weighted_previous() -> None:
    # 4 previous hits weighted 0.25 count as 1, so 4 of the 5 remain.
    assert capacity(LIMIT, window_position(LIMIT, START + 45), 4) == 4
    # 3 previous hits weighted 0.5 count as 1.5, rounded up to 2.
    assert capacity(LIMIT, window_position(LIMIT, START + 30), 3) == 3
    assert capacity(LIMIT, window_position(LIMIT, START), 5) == 0
    assert capacity(LIMIT, window_position(LIMIT, START), 9) == 0


def test_retry_after_zero_when_hit_fits() -> None:
    position = window_position(LIMIT, START + 10)

    assert retry_after(LIMIT, position, START + 10, previous_hits=0, current_hits=4) == 0


def test_retry_after_full_current_window() -> None:
    position = window_position(LIMIT, START + 10)

    # 5 hits become the previous window at START + 60, and one more fits once their
    # share is down to 4, a fifth of the next window later: START + 72.
    assert retry_after(LIMIT, position, START + 10, previous_hits=0, current_hits=5) == 62


def test_retry_after_previous_share() -> None:
    position = window_position(LIMIT, START + 15)

    # 2 current hits leave room for 2 previous ones: 8 * (1 - t/60) <= 2 at t = 45.
    assert retry_after(LIMIT, position, START + 15, previous_hits=8, current_hits=2) == 30


def test_retry_after_single_hit_limit() -> None:
    single = RateLimit(name="test.single", max_hits=1, window_seconds=60)
    position = window_position(single, START + 20)

    assert retry_after(single, position, START + 20, previous_hits=0, current_hits=1) == 100


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("name", {"name": "Bad Name", "max_hits": 1, "window_seconds": 60}),
        ("name", {"name": "", "max_hits": 1, "window_seconds": 60}),
        ("max_hits", {"name": "test.x", "max_hits": 0, "window_seconds": 60}),
        ("window_seconds", {"name": "test.x", "max_hits": 1, "window_seconds": 0}),
        ("window_seconds", {"name": "test.x", "max_hits": 1, "window_seconds": 8 * 24 * 3600}),
    ],
)
def test_rate_limit_invalid_values_rejected(field: str, values: dict[str, object]) -> None:
    with pytest.raises(InvalidInput) as raised:
        RateLimit(**values)  # type: ignore[arg-type]

    assert raised.value.field == field


def test_limiter_short_key_rejected() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        RateLimiter(Database("sqlite+aiosqlite://"), b"short")


async def test_hit_allows_up_to_max(engines: tuple[Database, Database], clock: Clock) -> None:
    limiter, _ = limiters(engines, clock)

    results = [await limiter.hit(LIMIT, "203.0.113.7") for _ in range(7)]

    assert [result.allowed for result in results] == [True] * 5 + [False] * 2
    assert [result.hits for result in results[:5]] == [1, 2, 3, 4, 5]
    assert results[5].retry_after == 72
    assert (await limiter.hit(LIMIT, "203.0.113.8")).allowed


async def test_hit_across_engines_exact(engines: tuple[Database, Database], clock: Clock) -> None:
    first, second = limiters(engines, clock)

    results = [
        await (first if index % 2 else second).hit(LIMIT, "sender@example.com")
        for index in range(10)
    ]

    assert sum(result.allowed for result in results) == LIMIT.max_hits
    assert not (await first.peek(LIMIT, "sender@example.com")).allowed
    assert not (await second.peek(LIMIT, "sender@example.com")).allowed


async def test_concurrent_hits_across_engines_exact(
    engines: tuple[Database, Database], clock: Clock
) -> None:
    first, second = limiters(engines, clock)
    limit = RateLimit(name="test.burst", max_hits=25, window_seconds=600)

    results = await asyncio.gather(
        *((first if index % 2 else second).hit(limit, "198.51.100.1") for index in range(60))
    )

    assert sum(result.allowed for result in results) == 25
    assert sorted(result.hits for result in results if result.allowed) == list(range(1, 26))
    assert all(result.retry_after > 0 for result in results if not result.allowed)
    windows = await stored_windows(engines[0])
    assert [window.hits for window in windows] == [25]


async def test_restart_keeps_count(database_url: str, clock: Clock) -> None:
    before = Database(database_url)
    for _ in range(4):
        assert (await RateLimiter(before, KEY, clock=clock).hit(LIMIT, "x")).allowed
    await before.dispose()

    after = Database(database_url)
    try:
        limiter = RateLimiter(after, KEY, clock=clock)
        assert (await limiter.hit(LIMIT, "x")).allowed
        assert not (await limiter.hit(LIMIT, "x")).allowed
    finally:
        await after.dispose()


async def test_rejected_hits_not_counted(engines: tuple[Database, Database], clock: Clock) -> None:
    limiter, _ = limiters(engines, clock)
    for _ in range(9):
        await limiter.hit(LIMIT, "x")

    windows = await stored_windows(engines[0])

    assert [window.hits for window in windows] == [5]


async def test_next_window_weighs_previous(
    engines: tuple[Database, Database], clock: Clock
) -> None:
    limiter, _ = limiters(engines, clock)
    for _ in range(5):
        await limiter.hit(LIMIT, "x")
    # A quarter into the next window, 5 previous hits weigh 3.75: one more hit fits.
    clock.now = START + 60 + 15

    results = [await limiter.hit(LIMIT, "x") for _ in range(2)]

    assert [result.allowed for result in results] == [True, False]


async def test_retry_after_is_when_hit_fits(
    engines: tuple[Database, Database], clock: Clock
) -> None:
    limiter, _ = limiters(engines, clock)
    for _ in range(5):
        await limiter.hit(LIMIT, "x")
    clock.now = START + 7
    wait = (await limiter.hit(LIMIT, "x")).retry_after

    clock.now = START + 7 + wait - 1
    assert not (await limiter.hit(LIMIT, "x")).allowed
    clock.now = START + 7 + wait
    assert (await limiter.hit(LIMIT, "x")).allowed


async def test_hit_in_rolled_back_session_not_counted(
    engines: tuple[Database, Database], clock: Clock
) -> None:
    limiter, _ = limiters(engines, clock)

    with pytest.raises(RuntimeError, match="ticket failed"):
        async with engines[0].transaction() as session:
            assert (await limiter.hit(LIMIT, "x", session=session)).allowed
            raise RuntimeError("ticket failed")

    assert await stored_windows(engines[0]) == []


async def test_release_takes_back_hit(engines: tuple[Database, Database], clock: Clock) -> None:
    limiter, _ = limiters(engines, clock)
    first = await limiter.hit(LIMIT, "x")
    await limiter.hit(LIMIT, "x")

    await limiter.release(LIMIT, "x", first)

    assert [window.hits for window in await stored_windows(engines[0])] == [1]


async def test_reset_forgets_subject(engines: tuple[Database, Database], clock: Clock) -> None:
    first, second = limiters(engines, clock)
    for _ in range(5):
        await first.hit(LIMIT, "x")
    await first.hit(LIMIT, "y")

    await second.reset(LIMIT, "x")

    assert (await first.hit(LIMIT, "x")).hits == 1
    assert (await first.hit(LIMIT, "y")).hits == 2


async def test_limits_count_apart(engines: tuple[Database, Database], clock: Clock) -> None:
    limiter, _ = limiters(engines, clock)
    other = RateLimit(name="test.other", max_hits=5, window_seconds=60)
    for _ in range(5):
        await limiter.hit(LIMIT, "x")

    assert (await limiter.hit(other, "x")).allowed


async def test_stored_key_is_keyed_digest(engines: tuple[Database, Database], clock: Clock) -> None:
    limiter, _ = limiters(engines, clock)
    await limiter.hit(LIMIT, "Someone@example.com")

    windows = await stored_windows(engines[0])

    assert len(windows) == 1
    assert windows[0].key == limiter.key_of(LIMIT, "Someone@example.com")
    assert "example" not in windows[0].key
    other_secret = RateLimiter(engines[0], derive_key("other secret", "rate-limit"))
    assert other_secret.key_of(LIMIT, "Someone@example.com") != windows[0].key


async def test_prune_removes_old_windows(engines: tuple[Database, Database], clock: Clock) -> None:
    limiter, _ = limiters(engines, clock)
    await limiter.hit(LIMIT, "old")
    clock.now = START + 60
    await limiter.hit(LIMIT, "recent")
    clock.now = START + 120

    async with engines[1].transaction() as session:
        removed = await do_prune_rate_limits(session, now=datetime.fromtimestamp(clock.now, UTC))

    assert removed == 1
    windows = await stored_windows(engines[0])
    assert [window.window_start for window in windows] == [START + 60]
    assert (await limiter.peek(LIMIT, "recent")).hits == 0
