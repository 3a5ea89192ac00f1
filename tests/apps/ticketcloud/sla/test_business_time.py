"""Business-time arithmetic: fixed cases across hours, weekends, holidays and
daylight-saving changes, and properties checked with hypothesis."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.sdk import InvalidInput
from tests.apps.ticketcloud.sla.calendars_for_tests import (
    around_the_clock,
    night_shift,
    office,
    reference_minutes,
    utc,
)
from ticketcloud.sla.business_time import (
    add_business_minutes,
    add_business_seconds,
    business_minutes_between,
    business_seconds_between,
    day_pieces,
    is_business_time,
)
from ticketcloud.sla.calendars import ALWAYS_OPEN, BusinessCalendar

BERLIN = office("Europe/Berlin")
NEW_YORK = office("America/New_York")


def test_add_after_hours_starts_next_morning() -> None:
    # Tuesday 18:30 in Berlin (CET, UTC+1).
    due = add_business_minutes(utc(2026, 3, 3, 17, 30), 60, BERLIN)

    assert due == utc(2026, 3, 4, 9, 0)


def test_add_before_opening_starts_at_opening() -> None:
    due = add_business_minutes(utc(2026, 3, 4, 6, 0), 30, BERLIN)

    assert due == utc(2026, 3, 4, 8, 30)


def test_add_over_weekend() -> None:
    # Friday 16:30 CET: 30 minutes on Friday, 30 on Monday morning.
    due = add_business_minutes(utc(2026, 3, 6, 15, 30), 60, BERLIN)

    assert due == utc(2026, 3, 9, 8, 30)


def test_add_skips_lunch_break() -> None:
    # Tuesday 11:30 CET: 30 minutes before lunch, 30 after it.
    due = add_business_minutes(utc(2026, 3, 3, 10, 30), 60, BERLIN)

    assert due == utc(2026, 3, 3, 12, 30)


def test_add_ending_at_lunch_returns_close() -> None:
    due = add_business_minutes(utc(2026, 3, 3, 10, 30), 30, BERLIN)

    assert due == utc(2026, 3, 3, 11, 0)


def test_add_skips_consecutive_holidays() -> None:
    calendar = office("Europe/Berlin", holidays=(date(2026, 12, 24), date(2026, 12, 25)))
    # Wednesday 23 December 16:00 CET: one hour that day, Thursday and Friday are
    # holidays, then the weekend, so the rest falls on Monday 28 December.
    due = add_business_minutes(utc(2026, 12, 23, 15, 0), 120, calendar)

    assert due == utc(2026, 12, 28, 9, 0)


def test_between_skips_consecutive_holidays() -> None:
    calendar = office("Europe/Berlin", holidays=(date(2026, 12, 24), date(2026, 12, 25)))

    assert business_minutes_between(utc(2026, 12, 23, 15, 0), utc(2026, 12, 28, 9, 0),
                                    calendar) == 120


def test_add_zero_minutes_returns_start() -> None:
    start = utc(2026, 3, 7, 3, 17)

    assert add_business_minutes(start, 0, BERLIN) == start


def test_add_across_europe_spring_forward() -> None:
    # Berlin moves to CEST (UTC+2) on Sunday 29 March 2026, so Monday opens at 07:00 UTC.
    due = add_business_minutes(utc(2026, 3, 27, 15, 0), 120, BERLIN)

    assert due == utc(2026, 3, 30, 8, 0)


def test_add_across_europe_fall_back() -> None:
    # Berlin returns to CET (UTC+1) on Sunday 25 October 2026, so Monday opens at 08:00 UTC.
    due = add_business_minutes(utc(2026, 10, 23, 14, 0), 120, BERLIN)

    assert due == utc(2026, 10, 26, 9, 0)


def test_add_across_america_spring_forward() -> None:
    # New York moves to EDT (UTC-4) on Sunday 8 March 2026: Friday 16:00 EST is 21:00 UTC,
    # and Monday 09:00 EDT is 13:00 UTC.
    due = add_business_minutes(utc(2026, 3, 6, 21, 0), 120, NEW_YORK)

    assert due == utc(2026, 3, 9, 14, 0)


def test_add_across_america_fall_back() -> None:
    # New York returns to EST (UTC-5) on Sunday 1 November 2026.
    due = add_business_minutes(utc(2026, 10, 30, 20, 0), 120, NEW_YORK)

    assert due == utc(2026, 11, 2, 15, 0)


@pytest.mark.parametrize(("zone", "day", "expected"), [
    ("Europe/Berlin", date(2026, 3, 29), 120),
    ("Europe/Berlin", date(2026, 10, 25), 240),
    ("America/New_York", date(2026, 3, 8), 120),
    ("America/New_York", date(2026, 11, 1), 240),
    ("Europe/Berlin", date(2026, 3, 28), 180),
])
def test_night_shift_on_change_days(zone: str, day: date, expected: int) -> None:
    """01:00 to 04:00 wall time loses the skipped hour in spring and counts the repeated
    hour twice in autumn."""
    calendar = night_shift(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=calendar.zone).astimezone(UTC)
    # Until the evening: the next night's hours stay outside.
    end = start + timedelta(hours=20)

    assert business_minutes_between(start, end, calendar) == expected


def test_around_the_clock_day_lengths_in_berlin() -> None:
    calendar = around_the_clock("Europe/Berlin")

    assert business_minutes_between(utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0),
                                    calendar) == 23 * 60
    assert business_minutes_between(utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0),
                                    calendar) == 25 * 60


def test_always_open_adds_real_minutes() -> None:
    start = utc(2026, 1, 1, 10, 0, 30)

    assert add_business_minutes(start, 10_000, ALWAYS_OPEN) == start + timedelta(minutes=10_000)


def test_between_rounds_down_to_whole_minutes() -> None:
    start = utc(2026, 3, 3, 9, 0)

    assert business_minutes_between(start, start + timedelta(seconds=119), BERLIN) == 1


def test_seconds_between_is_exact() -> None:
    start = utc(2026, 3, 3, 9, 0, 30)

    assert business_seconds_between(start, start + timedelta(seconds=119), BERLIN) == 119
    # 11:59:45 to 13:00:15 Berlin time: 15 s before lunch and 15 s after it.
    assert business_seconds_between(utc(2026, 3, 3, 10, 59, 45), utc(2026, 3, 3, 12, 0, 15),
                                    BERLIN) == 30


def test_seconds_between_rounds_microseconds_down() -> None:
    start = utc(2026, 3, 3, 9, 0)

    assert business_seconds_between(start, start + timedelta(seconds=5, microseconds=999_999),
                                    BERLIN) == 5
    assert business_seconds_between(start, start - timedelta(seconds=5), BERLIN) == 0


def test_add_seconds_crosses_lunch_and_weekend() -> None:
    # Friday 16:59:30 Berlin time plus 45 s: 30 s on Friday, 15 s on Monday. Then
    # 11:59:45 plus 30 s: 15 s before lunch and 15 s after it.
    due = add_business_seconds(utc(2026, 3, 6, 15, 59, 30), 45, BERLIN)

    assert due == utc(2026, 3, 9, 8, 0, 15)
    assert add_business_seconds(utc(2026, 3, 3, 10, 59, 45), 30, BERLIN) == utc(
        2026, 3, 3, 12, 0, 15)


def test_add_seconds_rejects_invalid_amounts() -> None:
    for amount in (-1, True, 1.5):
        with pytest.raises(InvalidInput) as raised:
            add_business_seconds(utc(2026, 3, 3), amount, BERLIN)  # type: ignore[arg-type]

        assert raised.value.field == "seconds"


def test_between_end_before_start_is_zero() -> None:
    assert business_minutes_between(utc(2026, 3, 4), utc(2026, 3, 3), BERLIN) == 0


def test_is_business_time_at_lunch() -> None:
    assert is_business_time(utc(2026, 3, 3, 10, 59), BERLIN)
    assert not is_business_time(utc(2026, 3, 3, 11, 0), BERLIN)


def test_add_rejects_naive_start() -> None:
    with pytest.raises(InvalidInput) as raised:
        add_business_minutes(datetime(2026, 3, 3, 9, 0), 10, BERLIN)

    assert raised.value.field == "start_utc"


def test_add_rejects_negative_minutes() -> None:
    with pytest.raises(InvalidInput) as raised:
        add_business_minutes(utc(2026, 3, 3), -1, BERLIN)

    assert raised.value.field == "minutes"


def test_add_long_target_is_fast() -> None:
    """A 10,000-minute target, with the per-day cache emptied before every call."""
    durations = []
    for hour in range(50):
        day_pieces.cache_clear()
        started = time.perf_counter()
        add_business_minutes(utc(2026, 3, 2) + timedelta(hours=hour * 7), 10_000, BERLIN)
        durations.append(time.perf_counter() - started)

    # About 0.1 ms on the development machine; the bound leaves room for a busy CI host.
    assert sorted(durations)[len(durations) // 2] < 0.005


def test_add_week_skip_matches_reference() -> None:
    """Twelve weeks across the spring change, where whole weeks are skipped at once."""
    start = utc(2026, 2, 11, 13, 7)
    due = add_business_minutes(start, 12 * 7 * 60 * 5 + 17, BERLIN)

    assert reference_minutes(start, due, BERLIN) == 12 * 7 * 60 * 5 + 17
    assert reference_minutes(start, due - timedelta(minutes=1), BERLIN) < 12 * 7 * 60 * 5 + 17


CALENDARS = [
    BERLIN, NEW_YORK, around_the_clock("Europe/Berlin"), night_shift("America/New_York"),
    night_shift("Europe/Berlin"),
    office("Europe/Berlin", holidays=(date(2026, 3, 30), date(2026, 3, 31), date(2026, 4, 3))),
]
calendars = st.sampled_from(CALENDARS)
# Whole minutes from January 2026 to the end of 2027, covering four changes per zone.
starts = st.integers(min_value=0, max_value=2 * 365 * 24 * 60).map(
    lambda minute: utc(2026, 1, 1) + timedelta(minutes=minute))


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=starts, minutes=st.integers(min_value=0, max_value=30_000))
def test_property_between_inverts_add(calendar: BusinessCalendar, start: datetime,
                                      minutes: int) -> None:
    due = add_business_minutes(start, minutes, calendar)

    assert business_minutes_between(start, due, calendar) == minutes


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=starts, minutes=st.integers(min_value=1, max_value=30_000))
def test_property_add_returns_earliest(calendar: BusinessCalendar, start: datetime,
                                       minutes: int) -> None:
    due = add_business_minutes(start, minutes, calendar)

    assert business_minutes_between(start, due - timedelta(seconds=1), calendar) < minutes


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=starts, first=st.integers(min_value=0, max_value=20_000),
       second=st.integers(min_value=0, max_value=20_000))
def test_property_add_monotonic_and_additive(calendar: BusinessCalendar, start: datetime,
                                             first: int, second: int) -> None:
    low, high = sorted((first, second))

    assert add_business_minutes(start, low, calendar) <= add_business_minutes(start, high,
                                                                              calendar)
    if first > 0:
        step = add_business_minutes(start, first, calendar)
        assert add_business_minutes(step, second, calendar) == add_business_minutes(
            start, first + second, calendar)


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=starts, first=st.integers(min_value=0, max_value=60_000),
       second=st.integers(min_value=0, max_value=60_000))
def test_property_between_monotonic(calendar: BusinessCalendar, start: datetime, first: int,
                                    second: int) -> None:
    low, high = sorted((first, second))
    near = business_minutes_between(start, start + timedelta(minutes=low), calendar)
    far = business_minutes_between(start, start + timedelta(minutes=high), calendar)

    assert near <= far
    assert far - near <= high - low


# Any whole second over the same two years, so that starts fall inside minutes too.
second_starts = st.integers(min_value=0, max_value=2 * 365 * 24 * 3600).map(
    lambda second: utc(2026, 1, 1) + timedelta(seconds=second))
business_seconds = st.integers(min_value=0, max_value=30_000 * 60)


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=second_starts, seconds=business_seconds)
def test_property_seconds_between_inverts_add(calendar: BusinessCalendar, start: datetime,
                                              seconds: int) -> None:
    due = add_business_seconds(start, seconds, calendar)

    assert business_seconds_between(start, due, calendar) == seconds
    if seconds > 0:
        assert business_seconds_between(start, due - timedelta(seconds=1), calendar) < seconds


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=second_starts, seconds=business_seconds,
       share=st.floats(min_value=0, max_value=1))
def test_property_banking_keeps_due_time(calendar: BusinessCalendar, start: datetime,
                                         seconds: int, share: float) -> None:
    """Banking the business time up to any whole second before the due time, then adding
    what is left from there, returns the same due time: an SLA target's re-timing."""
    due = add_business_seconds(start, seconds, calendar)
    bank_at = start + timedelta(seconds=int((due - start).total_seconds() * share))

    banked = business_seconds_between(start, bank_at, calendar)
    due_again = add_business_seconds(bank_at, seconds - banked, calendar)

    assert 0 <= banked <= seconds
    assert due_again == due


@settings(max_examples=150, deadline=None)
@given(calendar=calendars, start=second_starts, seconds=business_seconds)
def test_property_seconds_agree_with_minutes(calendar: BusinessCalendar, start: datetime,
                                             seconds: int) -> None:
    end = start + timedelta(seconds=seconds)

    assert business_seconds_between(start, end, calendar) // 60 == business_minutes_between(
        start, end, calendar)
    if seconds % 60 == 0:
        assert add_business_seconds(start, seconds, calendar) == add_business_minutes(
            start, seconds // 60, calendar)


@settings(max_examples=40, deadline=None)
@given(calendar=calendars, start=starts, span=st.integers(min_value=0, max_value=3 * 24 * 60))
def test_property_between_matches_reference(calendar: BusinessCalendar, start: datetime,
                                            span: int) -> None:
    end = start + timedelta(minutes=span)

    assert business_minutes_between(start, end, calendar) == reference_minutes(start, end,
                                                                               calendar)


@pytest.mark.parametrize("calendar", CALENDARS[:5])
@pytest.mark.parametrize("day", [date(2026, 3, 8), date(2026, 3, 29), date(2026, 10, 25),
                                 date(2026, 11, 1)])
def test_between_matches_reference_on_change_days(calendar: BusinessCalendar,
                                                  day: date) -> None:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    end = start + timedelta(days=3)

    assert business_minutes_between(start, end, calendar) == reference_minutes(start, end,
                                                                               calendar)
