"""Business calendars: a time zone, weekly business hours and holidays.

A calendar is stored as JSON in `SlaCalendar` and checked into a `BusinessCalendar`,
the immutable value that `business_time` computes with. Business hours are wall-clock
times of the calendar's zone: "09:00-17:00" means nine to five local time on every date,
whatever the UTC offset is that day.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import Conflict, InvalidInput, NotFound, access_row, utcnow
from ticketcloud.checks import check_id, check_label
from ticketcloud.models import SlaCalendar, SlaPolicy

logger = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
# Holidays are kept for these years only: the `holidays` package and iCalendar files
# cover them, and a date outside is almost always a typing error such as 2206.
MIN_YEAR = 2000
MAX_YEAR = 2099
MAX_HOLIDAYS = 2000
MAX_INTERVALS_PER_DAY = 12
MAX_CALENDARS = 100
MAX_HOLIDAY_NAME = 100
DEFAULT_ZONE = "UTC"

_CLOCK = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])$")

Interval = tuple[int, int]


@dataclass(frozen=True)
class BusinessCalendar:
    """Business hours in one zone: for each weekday (Monday first) the half-open
    intervals [start, end) in minutes after local midnight, sorted and disjoint, and the
    local dates that are holidays."""

    zone: ZoneInfo
    week: tuple[tuple[Interval, ...], ...]
    holidays: frozenset[date] = frozenset()
    # The holidays sorted, for range look-ups with bisect.
    sorted_holidays: tuple[date, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.sorted_holidays and self.holidays:
            object.__setattr__(self, "sorted_holidays", tuple(sorted(self.holidays)))

    @property
    def week_minutes(self) -> int:
        """The business minutes of a week without holidays, in wall-clock minutes."""
        return sum(end - start for day in self.week for start, end in day)


# The default calendar: every minute of every day counts, measured in UTC.
ALWAYS_OPEN = BusinessCalendar(zone=ZoneInfo(DEFAULT_ZONE),
                               week=tuple(((0, MINUTES_PER_DAY),) for _ in WEEKDAYS))


@dataclass(frozen=True)
class CalendarInput:
    """A validated calendar definition, ready to store."""

    name: str
    time_zone: str
    hours: dict[str, list[list[str]]]
    holidays: list[dict[str, str]]


def check_zone(value: object, *, field: str = "time_zone") -> ZoneInfo:
    """Return the IANA zone named `value`, or raise InvalidInput naming the field."""
    if not isinstance(value, str) or not value or value not in _zone_names():
        raise InvalidInput(f"Unknown time zone {value!r}: use an IANA name such as "
                           "'Europe/Berlin' or 'America/New_York'.", field=field)
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown time zone {value!r}: use an IANA name such as "
                           "'Europe/Berlin'.", field=field) from None


def check_hours(value: object) -> tuple[tuple[Interval, ...], ...]:
    """Return weekly hours `{"mon": [["09:00", "12:00"], ...], ...}` as minute
    intervals per weekday. A missing weekday has no business hours."""
    if not isinstance(value, Mapping):
        raise InvalidInput("Invalid hours: send an object mapping weekdays (mon to sun) to "
                           "lists of [start, end] times.", field="hours")
    unknown = sorted(str(name) for name in value if name not in WEEKDAYS)
    if unknown:
        raise InvalidInput(f"Unknown weekday {unknown[0]!r} in hours: use "
                           f"{', '.join(WEEKDAYS)}.", field=f"hours.{unknown[0]}")
    week = tuple(_check_day(value.get(day, []), day) for day in WEEKDAYS)
    if not any(week):
        raise InvalidInput("The hours have no business time on any weekday; give at least "
                           "one interval, or use the 24/7 default calendar.", field="hours")
    return week


def check_holiday_date(value: object, *, field: str) -> date:
    """Return an ISO date within MIN_YEAR..MAX_YEAR, or raise InvalidInput."""
    try:
        parsed = date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidInput(f"Invalid date {value!r}: use YYYY-MM-DD.", field=field)
    check_year(parsed.year, field=field)
    return parsed


def check_year(year: int, *, field: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidInput(f"The year {year} is outside the supported range {MIN_YEAR} to "
                           f"{MAX_YEAR}.", field=field)


def check_holidays(value: object) -> list[dict[str, str]]:
    """Return holidays `[{"date": "2026-12-25", "name": "..."}]` sorted by date, one entry
    per date."""
    if not isinstance(value, list):
        raise InvalidInput("Invalid holidays: send a list of {\"date\", \"name\"} objects.",
                           field="holidays")
    if len(value) > MAX_HOLIDAYS:
        raise InvalidInput(f"{len(value)} holidays given; the maximum is {MAX_HOLIDAYS}.",
                           field="holidays")
    by_date: dict[date, str] = {}
    for index, item in enumerate(value):
        where = f"holidays[{index}]"
        if not isinstance(item, Mapping) or set(item) - {"date", "name"} or "date" not in item:
            raise InvalidInput(f"Invalid holiday {item!r}: send an object with 'date' and "
                               "an optional 'name'.", field=where)
        day = check_holiday_date(item["date"], field=f"{where}.date")
        name = item.get("name", "")
        if not isinstance(name, str) or len(name) > MAX_HOLIDAY_NAME:
            raise InvalidInput(f"Invalid holiday name {name!r}: use text of at most "
                               f"{MAX_HOLIDAY_NAME} characters.", field=f"{where}.name")
        by_date.setdefault(day, name.strip())
    return [{"date": day.isoformat(), "name": by_date[day]} for day in sorted(by_date)]


def check_calendar(data: Mapping[str, object]) -> CalendarInput:
    """Validate a whole calendar definition: name, time_zone, hours and holidays."""
    name = check_label(data.get("name"), field="name")
    zone = check_zone(data.get("time_zone", DEFAULT_ZONE))
    week = check_hours(data.get("hours"))
    holidays = check_holidays(data.get("holidays", []))
    hours = {day: [[_clock(start), _clock(end)] for start, end in intervals]
             for day, intervals in zip(WEEKDAYS, week, strict=True) if intervals}
    return CalendarInput(name=name, time_zone=zone.key, hours=hours, holidays=holidays)


def business_calendar(row: SlaCalendar | None) -> BusinessCalendar:
    """Return the BusinessCalendar of a stored calendar; None is the 24/7 default."""
    if row is None:
        return ALWAYS_OPEN
    return BusinessCalendar(
        zone=check_zone(row.time_zone), week=check_hours(row.hours),
        holidays=frozenset(date.fromisoformat(item["date"]) for item in row.holidays))


def merge_holidays(current: Iterable[Mapping[str, str]],
                   added: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """Return both holiday lists as one, checked; a date in both keeps its current name."""
    return check_holidays([*current, *added])


async def list_calendars(session: AsyncSession, tenant_id: int) -> list[SlaCalendar]:
    statement = (select(SlaCalendar).where(SlaCalendar.tenant_id == tenant_id)
                 .order_by(col(SlaCalendar.name)))
    return list((await session.exec(statement)).all())


async def access_calendar(session: AsyncSession, tenant_id: int,
                          calendar_id: object) -> SlaCalendar:
    """Load a calendar of the tenant, or raise NotFound naming `calendar_id`."""
    row_id = check_id(calendar_id, field="calendar_id")
    try:
        return await access_row(session, SlaCalendar, tenant_id, row_id)
    except NotFound:
        raise NotFound(f"SLA calendar {row_id} not found.", field="calendar_id") from None


async def do_create_calendar(session: AsyncSession, tenant_id: int,
                             data: Mapping[str, object]) -> SlaCalendar:
    checked = check_calendar(data)
    existing = await list_calendars(session, tenant_id)
    if len(existing) >= MAX_CALENDARS:
        raise InvalidInput(f"This workspace has {len(existing)} SLA calendars, the maximum; "
                           "delete one first.", field="calendar")
    _check_unique_name(existing, checked.name, None)
    row = SlaCalendar(tenant_id=tenant_id, name=checked.name, time_zone=checked.time_zone,
                      hours=checked.hours, holidays=checked.holidays)
    session.add(row)
    await session.flush()
    logger.info("Created SLA calendar %s in tenant %s (%s, %s holidays)", row.id, tenant_id,
                row.time_zone, len(row.holidays))
    return row


async def do_update_calendar(session: AsyncSession, tenant_id: int, calendar_id: object,
                             data: Mapping[str, object]) -> tuple[SlaCalendar, BusinessCalendar]:
    """Replace a calendar's definition; return the row and its BusinessCalendar from
    before the change, so that the caller can recompute the targets that use it."""
    row = await access_calendar(session, tenant_id, calendar_id)
    before = business_calendar(row)
    checked = check_calendar(data)
    _check_unique_name(await list_calendars(session, tenant_id), checked.name, row.id)
    set_definition(row, checked)
    session.add(row)
    await session.flush()
    logger.info("Updated SLA calendar %s in tenant %s", row.id, tenant_id)
    return row, before


def set_definition(row: SlaCalendar, checked: CalendarInput) -> None:
    row.name = checked.name
    row.time_zone = checked.time_zone
    row.hours = checked.hours
    row.holidays = checked.holidays
    row.updated_at = utcnow()


async def do_delete_calendar(session: AsyncSession, tenant_id: int,
                             calendar_id: object) -> None:
    """Delete a calendar that no policy uses; a calendar in use raises Conflict."""
    row = await access_calendar(session, tenant_id, calendar_id)
    users = (await session.exec(select(SlaPolicy.name).where(
        SlaPolicy.tenant_id == tenant_id, SlaPolicy.calendar_id == row.id))).all()
    if users:
        raise Conflict(f"SLA calendar {row.id} is used by the policies {sorted(users)}; give "
                       "them another calendar first.", code="calendar_in_use",
                       field="calendar_id")
    await session.delete(row)
    await session.flush()
    logger.info("Deleted SLA calendar %s in tenant %s", row.id, tenant_id)


def calendar_json(row: SlaCalendar) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "time_zone": row.time_zone, "hours": row.hours,
            "holidays": row.holidays}


def _check_unique_name(rows: Sequence[SlaCalendar], name: str, own_id: int | None) -> None:
    if any(row.name == name and row.id != own_id for row in rows):
        raise Conflict(f"An SLA calendar named {name!r} exists already; choose another name.",
                       field="name")


def _check_day(value: object, day: str) -> tuple[Interval, ...]:
    where = f"hours.{day}"
    if not isinstance(value, list):
        raise InvalidInput(f"Invalid hours for {day}: send a list of [start, end] pairs such "
                           "as [[\"09:00\", \"17:00\"]].", field=where)
    if len(value) > MAX_INTERVALS_PER_DAY:
        raise InvalidInput(f"{len(value)} intervals on {day}; the maximum is "
                           f"{MAX_INTERVALS_PER_DAY}.", field=where)
    intervals = []
    for index, pair in enumerate(value):
        location = f"{where}[{index}]"
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise InvalidInput(f"Invalid interval {pair!r} on {day}: send [start, end] such "
                               "as [\"09:00\", \"12:00\"].", field=location)
        start, end = _minutes(pair[0], location), _minutes(pair[1], location)
        if end <= start:
            raise InvalidInput(f"The interval {pair[0]}-{pair[1]} on {day} is empty or ends "
                               "before it starts; the end must be after the start (use "
                               "24:00 for midnight).", field=location)
        intervals.append((start, end))
    intervals.sort()
    for (_, previous_end), (start, _) in itertools.pairwise(intervals):
        if start < previous_end:
            raise InvalidInput(f"Intervals on {day} overlap at {_clock(start)}; make them "
                               "disjoint.", field=where)
    return tuple(intervals)


def _minutes(value: object, field: str) -> int:
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise InvalidInput(f"Invalid time {value!r}: use HH:MM from 00:00 to 24:00.",
                           field=field)
    return int(match.group(1)) * 60 + int(match.group(2))


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@functools.cache
def _zone_names() -> frozenset[str]:
    # available_timezones() scans the tzdata files, so it runs once per process.
    return frozenset(available_timezones())
