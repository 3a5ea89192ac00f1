"""Rate limits of the public web form: a sliding window of attempts per key.

NOTE: the windows live in the memory of one portal process. Each process counts on its
own and a restart clears every attempt, so with N processes a sender gets up to N times
the limit. Move them into a table before running several processes.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

# The maximum number of keys a limiter keeps. Past that it drops the least recently used
# key, so random sender addresses cannot grow the process without bound.
MAX_KEYS = 50_000


@dataclass(frozen=True)
class Limit:
    """At most `max_attempts` within `window_seconds`."""

    max_attempts: int
    window_seconds: float

    @property
    def window_minutes(self) -> int:
        return max(1, round(self.window_seconds / 60))


@dataclass
class SlidingWindow:
    """The times of recent attempts per key; `check` then `record` for each attempt."""

    limit: Limit
    clock: Callable[[], float] = time.monotonic
    max_keys: int = MAX_KEYS
    _attempts: OrderedDict[Hashable, deque[float]] = field(default_factory=OrderedDict)

    def retry_after(self, key: Hashable) -> float:
        """Return the seconds until `key` may try again, or 0 when it may now."""
        attempts = self._recent(key)
        if len(attempts) < self.limit.max_attempts:
            return 0.0
        return max(0.0, attempts[0] + self.limit.window_seconds - self.clock())

    def record(self, key: Hashable) -> None:
        """Count one attempt of `key` now."""
        attempts = self._recent(key)
        attempts.append(self.clock())
        self._attempts[key] = attempts
        self._attempts.move_to_end(key)
        while len(self._attempts) > self.max_keys:
            self._attempts.popitem(last=False)

    def _recent(self, key: Hashable) -> deque[float]:
        attempts = self._attempts.get(key, deque())
        oldest_kept = self.clock() - self.limit.window_seconds
        while attempts and attempts[0] <= oldest_kept:
            attempts.popleft()
        if not attempts:
            self._attempts.pop(key, None)
        return attempts
