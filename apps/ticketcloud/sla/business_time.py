"""Business-time arithmetic on a BusinessCalendar, exact to the second.

Business time is real elapsed time that falls inside business hours. Business hours are
wall-clock times of the calendar's zone. So on the day clocks spring forward, an interval
that spans the skipped hour is an hour shorter. On the day they fall back, an interval
that spans the repeated hour counts it twice, because it contains every instant whose
local wall time is inside the interval.

NOTE: days are walked in order, so in a zone whose clocks fall back across midnight a
business interval at the end of the earlier date that repeats after the later date began
is counted in full, but `add_business_time` may return an instant a little later than
the earliest one there. This affects only zones whose clocks fall back at midnight.

Each local date is turned into UTC pieces once (and cached), and whole weeks without a
holiday or an offset change are skipped in one step, so a target of months costs a few
dozen date look-ups.
"""

from __future__ import annotations

import bisect
import functools
from datetime import UTC, date, datetime, timedelta

from portal.sdk import InvalidInput
from ticketcloud.sla.calendars import BusinessCalendar

Piece = tuple[datetime, datetime]

_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
# Wider than any UTC offset (-12:00 to +14:00), so that the window around a local date
# contains every instant whose wall time falls on that date.
_MARGIN = timedelta(hours=15)
# add_business_time gives up past this many days: the calendar has (almost) no
# business hours left, and datetime cannot go past the year 9999 anyway.
MAX_SEARCH_DAYS = 366 * 200


def add_business_minutes(start_utc: datetime, minutes: int,
                         calendar: BusinessCalendar) -> datetime:
    """Return the earliest UTC instant by which `minutes` business minutes have elapsed
    since `start_utc`. Zero minutes return `start_utc` itself, even outside business
    hours. A positive amount that ends exactly at the close of an interval returns that
    close, not the next opening."""
    _check_amount(minutes, "minutes")
    return add_business_time(start_utc, timedelta(minutes=minutes), calendar)


def add_business_seconds(start_utc: datetime, seconds: int,
                         calendar: BusinessCalendar) -> datetime:
    """Return the earliest UTC instant by which `seconds` business seconds have elapsed
    since `start_utc`, by the rules of `add_business_minutes`."""
    _check_amount(seconds, "seconds")
    return add_business_time(start_utc, timedelta(seconds=seconds), calendar)


def add_business_time(start_utc: datetime, amount: timedelta,
                      calendar: BusinessCalendar) -> datetime:
    """Return the earliest UTC instant by which `amount` of business time has elapsed
    since `start_utc`, exact to the microsecond. A zero amount returns `start_utc`."""
    if amount < timedelta():
        raise InvalidInput(f"Invalid business time {amount!r}: expected a duration of 0 or "
                           "more.", field="amount")
    start = _as_utc(start_utc, "start_utc")
    remaining = amount
    if not remaining:
        return start
    week = timedelta(minutes=calendar.week_minutes)
    # The day before too: where clocks fall back across midnight, its last wall-clock hour
    # repeats after the start date began.
    start_date = start.astimezone(calendar.zone).date()
    first = start_date - _DAY
    day = first
    while (day - first).days <= MAX_SEARCH_DAYS:
        # Only weeks that begin after the start's date are whole.
        if (day > start_date and day.weekday() == 0 and remaining > week
                and _plain_week(calendar, day)):
            remaining -= week
            day += _WEEK
            continue
        for piece_start, piece_end in day_pieces(calendar, day):
            if piece_end <= start:
                continue
            begin = max(piece_start, start)
            span = piece_end - begin
            if span >= remaining:
                return begin + remaining
            remaining -= span
        day += _DAY
    seconds = amount // timedelta(seconds=1)
    raise InvalidInput(f"{seconds} business seconds from {start.isoformat()} end more than "
                       f"{MAX_SEARCH_DAYS} days later; give the calendar more business hours.",
                       field="amount")


def business_minutes_between(start_utc: datetime, end_utc: datetime,
                             calendar: BusinessCalendar) -> int:
    """Return the whole business minutes from `start_utc` to `end_utc` (rounded down);
    0 when `end_utc` is not after `start_utc`."""
    return business_time_between(start_utc, end_utc, calendar) // timedelta(minutes=1)


def business_seconds_between(start_utc: datetime, end_utc: datetime,
                             calendar: BusinessCalendar) -> int:
    """Return the whole business seconds from `start_utc` to `end_utc`, rounded down, or
    0 when `end_utc` is not after `start_utc`. Between two instants on whole seconds
    nothing is rounded away, because business hours start and end on whole minutes of
    wall time and UTC offsets are whole seconds."""
    return business_time_between(start_utc, end_utc, calendar) // timedelta(seconds=1)


def business_time_between(start_utc: datetime, end_utc: datetime,
                          calendar: BusinessCalendar) -> timedelta:
    """Return the business time from `start_utc` to `end_utc`, to the microsecond."""
    start = _as_utc(start_utc, "start_utc")
    end = _as_utc(end_utc, "end_utc")
    total = timedelta()
    if end <= start:
        return total
    week = timedelta(minutes=calendar.week_minutes)
    start_date = start.astimezone(calendar.zone).date()
    last = end.astimezone(calendar.zone).date()
    day = start_date - _DAY
    while day <= last:
        if (day > start_date and day.weekday() == 0 and day + _WEEK <= last
                and _plain_week(calendar, day)):
            total += week
            day += _WEEK
            continue
        for piece_start, piece_end in day_pieces(calendar, day):
            begin, finish = max(piece_start, start), min(piece_end, end)
            if finish > begin:
                total += finish - begin
        day += _DAY
    return total


def is_business_time(moment_utc: datetime, calendar: BusinessCalendar) -> bool:
    """Return whether an instant is inside business hours."""
    moment = _as_utc(moment_utc, "moment_utc")
    day = moment.astimezone(calendar.zone).date()
    return any(start <= moment < end for start, end in day_pieces(calendar, day))


@functools.lru_cache(maxsize=8192)
def day_pieces(calendar: BusinessCalendar, day: date) -> tuple[Piece, ...]:
    """Return the UTC spans, sorted and disjoint, whose local wall time lies in the
    business hours of the local date `day` (none on a holiday).

    The window around the date is split where the zone's UTC offset changes. Within
    each part the offset is constant, so a wall-time interval maps to one UTC span that
    is clipped to the part.
    """
    intervals = calendar.week[day.weekday()]
    if not intervals or day in calendar.holidays:
        return ()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    pieces: list[Piece] = []
    for part_start, part_end, offset in _constant_offset_parts(calendar, day):
        for start_minute, end_minute in intervals:
            begin = max(midnight + timedelta(minutes=start_minute) - offset, part_start)
            finish = min(midnight + timedelta(minutes=end_minute) - offset, part_end)
            if finish > begin:
                pieces.append((begin, finish))
    pieces.sort()
    return tuple(_merge(pieces))


def _constant_offset_parts(calendar: BusinessCalendar,
                           day: date) -> list[tuple[datetime, datetime, timedelta]]:
    """Split the UTC window around `day` into parts of constant UTC offset."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    window_start, window_end = midnight - _MARGIN, midnight + _DAY + _MARGIN
    parts = []
    cursor = window_start
    while cursor < window_end:
        offset = _offset(calendar, cursor)
        change = _next_change(calendar, cursor, window_end, offset)
        parts.append((cursor, change, offset))
        cursor = change
    return parts


def _next_change(calendar: BusinessCalendar, start: datetime, end: datetime,
                 offset: timedelta) -> datetime:
    """Return the first instant in (start, end] with another offset than `offset`, or
    `end`. Binary search to the second, because tzdata transitions fall on whole
    seconds.

    NOTE: this assumes at most one offset change per window of about 54 hours, which
    holds for every zone in tzdata since 1970.
    """
    if _offset(calendar, end - timedelta(seconds=1)) == offset:
        return end
    low, high = start, end - timedelta(seconds=1)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if _offset(calendar, middle) == offset:
            low = middle
        else:
            high = middle
    return high


def _offset(calendar: BusinessCalendar, moment: datetime) -> timedelta:
    offset = moment.astimezone(calendar.zone).utcoffset()
    assert offset is not None
    return offset


def _plain_week(calendar: BusinessCalendar, monday: date) -> bool:
    """Return whether the seven days from `monday` have no holiday and one UTC offset,
    so that their business time is exactly `calendar.week_minutes`."""
    holidays = calendar.sorted_holidays
    index = bisect.bisect_left(holidays, monday)
    if index < len(holidays) and holidays[index] < monday + _WEEK:
        return False
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC) - _MARGIN
    return _offset(calendar, start) == _offset(calendar, start + _WEEK + 2 * _MARGIN)


def _merge(pieces: list[Piece]) -> list[Piece]:
    merged: list[Piece] = []
    for start, end in pieces:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _check_amount(amount: int, unit: str) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise InvalidInput(f"Invalid business {unit} {amount!r}: expected an integer of 0 "
                           "or more.", field=unit)


def _as_utc(moment: datetime, field: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidInput(f"Invalid {field} {moment!r}: expected a timezone-aware datetime.",
                           field=field)
    return moment.astimezone(UTC)
