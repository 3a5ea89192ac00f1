"""The sliding window behind the web form's rate limits, on a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass

from ticketcloud.public_limits import Limit, SlidingWindow


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_allows_up_to_limit() -> None:
    window = SlidingWindow(Limit(max_attempts=3, window_seconds=60), clock=Clock())

    for _ in range(3):
        assert window.retry_after("a") == 0
        window.record("a")

    assert window.retry_after("a") == 60
    assert window.retry_after("b") == 0


def test_window_slides_with_oldest_attempt() -> None:
    clock = Clock()
    window = SlidingWindow(Limit(max_attempts=2, window_seconds=60), clock=clock)
    window.record("a")
    clock.now += 20
    window.record("a")

    clock.now += 30
    assert window.retry_after("a") == 10
    clock.now += 10
    assert window.retry_after("a") == 0
    window.record("a")
    assert window.retry_after("a") == 20


def test_window_forgets_least_recent_key() -> None:
    window = SlidingWindow(Limit(max_attempts=1, window_seconds=60), clock=Clock(), max_keys=2)
    for key in ("a", "b", "c"):
        window.record(key)

    assert window.retry_after("a") == 0
    assert window.retry_after("b") == 60
    assert window.retry_after("c") == 60


def test_limit_window_minutes() -> None:
    assert Limit(max_attempts=5, window_seconds=600).window_minutes == 10
