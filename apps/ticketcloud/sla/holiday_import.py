"""Holidays for a calendar from the `holidays` package or from an iCalendar file."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import holidays as holiday_data
import icalendar

# python-dateutil comes with icalendar and ships no type information.
from dateutil.rrule import rrulestr  # type: ignore[import-untyped]

from portal.sdk import InvalidInput
from ticketcloud.sla.calendars import MAX_HOLIDAYS, MAX_YEAR, MIN_YEAR, check_year

logger = logging.getLogger(__name__)

# An iCalendar file of every public holiday of a country for a century is well under
# this; a larger file is almost certainly something else.
MAX_ICAL_BYTES = 256 * 1024
MAX_IMPORT_YEARS = 10
# A multi-day event such as a company shutdown; longer events are rejected as mistakes.
MAX_EVENT_DAYS = 31


def country_holidays(country: object, region: object, years: object) -> list[dict[str, str]]:
    """Return the public holidays of an ISO 3166 country (and optionally a subdivision
    such as "BY" for Bavaria) in `years`, from the `holidays` package."""
    checked_years = _check_years(years)
    if not isinstance(country, str) or not country.strip():
        raise InvalidInput(f"Invalid country {country!r}: use an ISO 3166 code such as 'DE'.",
                           field="country")
    if region is not None and not isinstance(region, str):
        raise InvalidInput(f"Invalid region {region!r}: use a subdivision code such as 'BY', "
                           "or leave it out.", field="region")
    code = country.strip().upper()
    subdivision = region.strip().upper() if region else None
    try:
        found = holiday_data.country_holidays(code, subdiv=subdivision, years=checked_years)
    except NotImplementedError as error:
        # The package raises NotImplementedError for unknown countries and subdivisions.
        field = "country" if code not in holiday_data.list_supported_countries() else "region"
        raise InvalidInput(f"No holidays for {code}{'-' + subdivision if subdivision else ''}: "
                           f"{error}.", field=field) from None
    return [{"date": day.isoformat(), "name": str(name)[:100]}
            for day, name in sorted(found.items())]


def ical_holidays(data: object) -> list[dict[str, str]]:
    """Return the dates of every event in an iCalendar file as holidays. An event of
    several days covers each of them; a recurring event is expanded up to MAX_YEAR."""
    raw = data.encode() if isinstance(data, str) else data
    if not isinstance(raw, bytes) or not raw.strip():
        raise InvalidInput("The iCalendar file is missing or empty.", field="ical")
    if len(raw) > MAX_ICAL_BYTES:
        raise InvalidInput(f"The iCalendar file is {len(raw):,} bytes; the maximum is "
                           f"{MAX_ICAL_BYTES:,}. Export only the holidays.", field="ical")
    try:
        parsed = icalendar.Calendar.from_ical(raw)
        found: dict[date, str] = {}
        for event in parsed.walk("VEVENT"):
            name = str(event.get("SUMMARY", "")).strip()[:100]
            for day in _event_days(event):
                found.setdefault(day, name)
                if len(found) > MAX_HOLIDAYS:
                    raise InvalidInput(f"The iCalendar file has more than {MAX_HOLIDAYS} "
                                       "holiday dates.", field="ical")
    except InvalidInput:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        logger.info("Rejected an iCalendar file: %s", error)
        raise InvalidInput(f"The iCalendar file is not valid iCalendar data ({error}); "
                           "export it again as .ics.", field="ical") from None
    if not found:
        raise InvalidInput("The iCalendar file has no events with dates.", field="ical")
    return [{"date": day.isoformat(), "name": found[day]} for day in sorted(found)]


def _event_days(event: icalendar.cal.Component) -> Iterator[date]:
    if "DTSTART" not in event:
        raise ValueError("an event has no DTSTART")
    start = _as_date(event.decoded("DTSTART"))
    end = _as_date(event.decoded("DTEND")) if "DTEND" in event else start + timedelta(days=1)
    length = max(1, (end - start).days)
    if length > MAX_EVENT_DAYS:
        raise InvalidInput(f"The event {str(event.get('SUMMARY', ''))!r} from {start} lasts "
                           f"{length} days; the maximum is {MAX_EVENT_DAYS}.", field="ical")
    for first in _occurrences(event, start):
        for offset in range(length):
            day = first + timedelta(days=offset)
            check_year(day.year, field="ical")
            yield day


def _occurrences(event: icalendar.cal.Component, start: date) -> Iterator[date]:
    if "RRULE" not in event:
        yield start
        return
    encoded = event["RRULE"].to_ical()
    rule = encoded.decode() if isinstance(encoded, bytes) else str(encoded)
    begin = datetime(start.year, start.month, start.day)
    # Counted, because a rule such as FREQ=SECONDLY yields endless times on few dates.
    for count, moment in enumerate(rrulestr(rule, dtstart=begin)):
        if moment.year > MAX_YEAR:
            return
        if count >= MAX_HOLIDAYS:
            raise InvalidInput(f"The recurring event from {start} repeats more than "
                               f"{MAX_HOLIDAYS} times before {MAX_YEAR + 1}.", field="ical")
        yield moment.date()


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise ValueError(f"expected a date, not {value!r}")


def _check_years(years: object) -> list[int]:
    if (not isinstance(years, list) or not years or len(years) > MAX_IMPORT_YEARS
            or not all(isinstance(year, int) and not isinstance(year, bool) for year in years)):
        raise InvalidInput(f"Invalid years {years!r}: send a list of 1 to {MAX_IMPORT_YEARS} "
                           f"years from {MIN_YEAR} to {MAX_YEAR}.", field="years")
    for year in years:
        check_year(year, field="years")
    return sorted(set(years))

