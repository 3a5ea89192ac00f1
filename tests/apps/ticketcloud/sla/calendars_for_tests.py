"""Business calendars shared by the SLA tests, and a minute-by-minute reference count."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ticketcloud.sla.calendars import BusinessCalendar, check_hours

WORKDAYS = ("mon", "tue", "wed", "thu", "fri")


def office(zone: str, *, holidays: tuple[date, ...] = ()) -> BusinessCalendar:
    """Monday to Friday, 09:00 to 12:00 and 13:00 to 17:00 with a lunch break."""
    hours = {day: [["09:00", "12:00"], ["13:00", "17:00"]] for day in WORKDAYS}
    return BusinessCalendar(zone=ZoneInfo(zone), week=check_hours(hours),
                            holidays=frozenset(holidays))


def around_the_clock(zone: str) -> BusinessCalendar:
    hours = {day: [["00:00", "24:00"]] for day in (*WORKDAYS, "sat", "sun")}
    return BusinessCalendar(zone=ZoneInfo(zone), week=check_hours(hours))


def night_shift(zone: str) -> BusinessCalendar:
    """Every day from 01:00 to 04:00, the hours that daylight-saving changes skip or
    repeat in Europe and America."""
    hours = {day: [["01:00", "04:00"]] for day in (*WORKDAYS, "sat", "sun")}
    return BusinessCalendar(zone=ZoneInfo(zone), week=check_hours(hours))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def reference_minutes(start: datetime, end: datetime, calendar: BusinessCalendar) -> int:
    """Count business minutes one UTC minute at a time: the slow, obvious definition that
    the fast arithmetic must agree with. `start` must be on a whole minute."""
    count = 0
    moment = start
    while moment < end:
        local = moment.astimezone(calendar.zone)
        minute = local.hour * 60 + local.minute
        if local.date() not in calendar.holidays and any(
                begin <= minute < finish for begin, finish in calendar.week[local.weekday()]):
            count += 1
        moment += timedelta(minutes=1)
    return count
