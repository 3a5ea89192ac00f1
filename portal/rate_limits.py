"""Rate limits that hold across every portal process sharing one database.

Each limit counts hits per key in fixed windows of `window_seconds`, one row per key and
window in `portal_rate_limit`. A hit is allowed while the estimate of hits in the last
`window_seconds` stays within `max_hits`. The estimate is the current window's count plus
the previous window's count weighted by the share of the previous window that still lies
inside the sliding window, which assumes the previous window's hits were spread evenly.
So a fixed window never lets more than `max_hits` through, any span of `window_seconds`
at most twice that, and traffic that is spread evenly gets a true sliding window.

A hit is counted with one `INSERT ... ON CONFLICT DO UPDATE ... WHERE hits < capacity
RETURNING hits`, which SQLite (3.35 and later) and PostgreSQL both run atomically: on
PostgreSQL the statement takes the row lock and re-checks the WHERE on the latest
version, and SQLite runs one write transaction at a time. So concurrent hits from any
number of processes never let more than the capacity through. Rejected hits are not
counted, so a client that keeps retrying is not locked out for longer.

Keys are HMAC-SHA256 digests of the limit's name and the subject (an address, an email)
under a key derived from the portal's secret, so the table stores no address. Without
the secret, a leaked table cannot be matched against guessed addresses either. The
hourly `portal.prune` job deletes windows that no longer count.

Windows follow each process's wall clock, so hosts that share a database need
synchronized clocks; a skew of a few seconds only moves the window edges by as much.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, String, bindparam, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import Database, UTCDateTime, core_connection, utcnow
from portal.errors import InvalidInput

logger = logging.getLogger(__name__)

# Dotted or colon-separated names such as "portal.signin.account" or
# "ticketcloud:web_form.email".
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,99}$")
MAX_WINDOW_SECONDS = 7 * 24 * 3600


class RateLimitWindow(SQLModel, table=True):
    """The hits of one key in one fixed window. The key is an HMAC digest, never the
    subject itself."""

    __tablename__ = "portal_rate_limit"
    __table_args__ = (Index("ix_portal_rate_limit_expires_at", "expires_at"),)

    key: str = Field(sa_column=Column(String(64), primary_key=True))
    # Seconds since the Unix epoch at which the window starts, a multiple of its length.
    window_start: int = Field(sa_column=Column(BigInteger, primary_key=True))
    hits: int = Field(sa_column=Column(Integer, nullable=False))
    # When this window stops counting for the next one, so pruning may delete it.
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


@dataclass(frozen=True)
class RateLimit:
    """At most `max_hits` hits per subject within `window_seconds`, under `name`.

    Two limits with the same name count the same hits, so give each limit its own name.
    """

    name: str
    max_hits: int
    window_seconds: int

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidInput(
                f"Invalid rate limit name {self.name!r}: use 1 to 100 lower-case "
                "letters, digits and . _ : -, starting with a letter or digit.",
                field="name",
            )
        if self.max_hits < 1:
            raise InvalidInput(
                f"Invalid max_hits {self.max_hits!r} for rate limit {self.name!r}: use 1 or more.",
                field="max_hits",
            )
        if not 1 <= self.window_seconds <= MAX_WINDOW_SECONDS:
            raise InvalidInput(
                f"Invalid window_seconds {self.window_seconds!r} for rate limit "
                f"{self.name!r}: use 1 to {MAX_WINDOW_SECONDS} (7 days).",
                field="window_seconds",
            )

    @property
    def window_minutes(self) -> int:
        """The window in whole minutes, at least 1, for messages."""
        return max(1, round(self.window_seconds / 60))


@dataclass(frozen=True)
class RateLimitResult:
    """The outcome of one hit: `allowed`, or the seconds to wait in `retry_after`."""

    allowed: bool
    # 0 when allowed. Otherwise the seconds until one more hit fits, rounded up, at least 1.
    retry_after: int
    # The hits counted in the current window, including this one when allowed.
    hits: int


@dataclass(frozen=True)
class WindowPosition:
    """The position of `now` for a limit: the current window and the previous window's
    weight."""

    start: int
    previous_start: int
    # The share (0 to 1) of the previous window still inside the sliding window.
    previous_weight: float


def window_position(limit: RateLimit, now: float) -> WindowPosition:
    """Return the current window of `limit` at `now` (seconds since the epoch)."""
    size = limit.window_seconds
    start = math.floor(now / size) * size
    weight = 1.0 - (now - start) / size
    return WindowPosition(
        start=start, previous_start=start - size, previous_weight=min(1.0, max(0.0, weight))
    )


def capacity(limit: RateLimit, position: WindowPosition, previous_hits: int) -> int:
    """Return how many hits the current window may hold at this position.

    A hit is allowed when previous_hits * weight + hits <= max_hits, and hits is a whole
    number, so the capacity is max_hits minus the weighted previous count rounded up.
    """
    weighted = previous_hits * position.previous_weight
    # Round away float noise such as 2.0000000000000004 before rounding up.
    return max(0, limit.max_hits - math.ceil(round(weighted, 9)))


def retry_after(
    limit: RateLimit, position: WindowPosition, now: float, *, previous_hits: int, current_hits: int
) -> int:
    """Return the whole seconds from `now` until one more hit fits, or 0 when it fits now."""
    size = limit.window_seconds
    room = limit.max_hits - 1
    if current_hits <= room:
        if previous_hits * position.previous_weight <= room - current_hits:
            return 0
        # The previous window's share must shrink to `room - current_hits`; it shrinks
        # linearly to 0 across the current window.
        passed = 1.0 - (room - current_hits) / previous_hits
        fits_at = position.start + size * passed
    else:
        # The current window is full. It becomes the previous window at its end, and its
        # share must then shrink to `room`.
        passed = 1.0 - room / current_hits
        fits_at = position.start + size + size * passed
    return max(1, math.ceil(round(fits_at - now, 6)))


def stored_key(key: bytes, limit: RateLimit, subject: str) -> str:
    """Return the key that `portal_rate_limit` stores for `subject` under `limit`, an
    HMAC-SHA256 digest under `key`."""
    message = f"{limit.name}\x1f{subject}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class RateLimiter:
    """Counts hits in `portal_rate_limit`; one per process, shared by the portal and apps."""

    def __init__(self, db: Database, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(key) < 32:
            raise ValueError(
                "the rate limit key must be at least 32 bytes; derive it with "
                "portal.mail.compose.derive_key()"
            )
        self.db = db
        self._key = key
        self._clock = clock

    def key_of(self, limit: RateLimit, subject: str) -> str:
        """Return the stored key of `subject` under `limit`: an HMAC digest."""
        return stored_key(self._key, limit, subject)

    async def hit(
        self, limit: RateLimit, subject: str, *, session: AsyncSession | None = None
    ) -> RateLimitResult:
        """Count one hit of `subject` under `limit` if it fits, and return the outcome.

        With `session`, the hit is counted in that transaction, so a rollback takes it
        back. On PostgreSQL the window's row stays locked until that transaction ends.
        Without it, the hit commits at once in a short transaction of its own.
        """
        if session is not None:
            return await self._hit(session, limit, subject)
        async with self.db.transaction() as own:
            return await self._hit(own, limit, subject)

    async def peek(self, limit: RateLimit, subject: str) -> RateLimitResult:
        """Return whether one more hit would fit now, without counting it. Another
        process may take the last hit meanwhile, so use `hit` to decide."""
        now = self._clock()
        position = window_position(limit, now)
        async with self.db.read() as session:
            previous, current = await self._counts(session, self.key_of(limit, subject), position)
        wait = retry_after(limit, position, now, previous_hits=previous, current_hits=current)
        return RateLimitResult(allowed=wait == 0, retry_after=wait, hits=current)

    async def release(
        self,
        limit: RateLimit,
        subject: str,
        result: RateLimitResult,
        *,
        session: AsyncSession | None = None,
    ) -> None:
        """Take back one allowed hit, such as an attempt that turned out not to count.

        Does nothing for a rejected hit. The hit is taken from the window it is counted
        in now, which is the one it was counted in unless that window ended meanwhile.
        """
        if not result.allowed:
            return
        position = window_position(limit, self._clock())
        statement = (
            update(RateLimitWindow)
            .where(
                col(RateLimitWindow.key) == self.key_of(limit, subject),
                col(RateLimitWindow.window_start) == position.start,
                col(RateLimitWindow.hits) > 0,
            )
            .values(hits=col(RateLimitWindow.hits) - 1)
        )
        if session is not None:
            await session.exec(statement)
            return
        async with self.db.transaction() as own:
            await own.exec(statement)

    async def reset(
        self, limit: RateLimit, subject: str, *, session: AsyncSession | None = None
    ) -> None:
        """Forget every hit of `subject` under `limit`."""
        statement = delete(RateLimitWindow).where(
            col(RateLimitWindow.key) == self.key_of(limit, subject)
        )
        if session is not None:
            await session.exec(statement)
            return
        async with self.db.transaction() as own:
            await own.exec(statement)

    async def _hit(self, session: AsyncSession, limit: RateLimit, subject: str) -> RateLimitResult:
        now = self._clock()
        position = window_position(limit, now)
        key = self.key_of(limit, subject)
        previous, current = await self._counts(session, key, position)
        room = capacity(limit, position, previous)
        counted = None
        # A window already at its capacity only grows, so it needs no write.
        if current < room:
            counted = await self._count_hit(session, key, limit, position, room)
        if counted is not None:
            return RateLimitResult(allowed=True, retry_after=0, hits=counted)
        # Another process may have filled the window since the first read.
        _, current = await self._counts(session, key, position)
        wait = retry_after(
            limit, position, now, previous_hits=previous, current_hits=max(current, room)
        )
        logger.info(
            "Rate limit %s reached: %s hits in this window, %s in the previous; retry after %s s",
            limit.name,
            current,
            previous,
            wait,
        )
        return RateLimitResult(allowed=False, retry_after=wait, hits=current)

    async def _count_hit(
        self, session: AsyncSession, key: str, limit: RateLimit, position: WindowPosition, room: int
    ) -> int | None:
        expires = datetime.fromtimestamp(position.start + 2 * limit.window_seconds, UTC)
        row = (await (await core_connection(session)).execute(_COUNT_HIT[self.db.dialect], {
            "key": key, "window_start": position.start, "expires_at": expires, "room": room,
        })).first()
        return None if row is None else int(row[0])

    async def _counts(
        self, session: AsyncSession, key: str, position: WindowPosition
    ) -> tuple[int, int]:
        rows = (await (await core_connection(session)).execute(_COUNTS, {
            "key": key, "previous_start": position.previous_start, "start": position.start,
        })).all()
        hits = {start: count for start, count in rows}
        return hits.get(position.previous_start, 0), hits.get(position.start, 0)


# Core statements built once, because every hit runs them. Building a statement costs
# more than running it, and ORM-enabled ones would flush the caller's session first.
_WINDOWS = RateLimitWindow.__table__  # type: ignore[attr-defined]
_COUNTS = select(_WINDOWS.c.window_start, _WINDOWS.c.hits).where(
    _WINDOWS.c.key == bindparam("key"),
    _WINDOWS.c.window_start.in_([bindparam("previous_start"), bindparam("start")]))


def _count_hit_statement(dialect: Any) -> Any:
    """Return the upsert that counts a hit unless the window has `room` hits already."""
    return dialect.insert(_WINDOWS).values(
        key=bindparam("key"), window_start=bindparam("window_start"), hits=1,
        expires_at=bindparam("expires_at"),
    ).on_conflict_do_update(
        index_elements=["key", "window_start"], set_={"hits": _WINDOWS.c.hits + 1},
        where=_WINDOWS.c.hits < bindparam("room"),
    ).returning(_WINDOWS.c.hits)


_COUNT_HIT = {"postgresql": _count_hit_statement(postgresql),
              "sqlite": _count_hit_statement(sqlite)}


async def do_prune_rate_limits(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Delete the windows that no longer count for any hit; return how many."""
    cutoff = now or utcnow()
    result = await session.exec(
        delete(RateLimitWindow).where(col(RateLimitWindow.expires_at) <= cutoff)
    )
    removed = int(result.rowcount or 0)
    if removed:
        logger.info(
            "Pruned %s rate limit windows that ended before %s", removed, cutoff.isoformat()
        )
    return removed
