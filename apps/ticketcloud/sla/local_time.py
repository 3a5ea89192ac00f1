"""Due times that agents enter in their own wall-clock time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from portal.sdk import InvalidInput
from ticketcloud.sla.calendars import check_zone

# The value format of a datetime-local input: minutes, or seconds when its step is under
# 60 s.
_WALL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


def local_to_utc(value: object, zone_name: object, *, field: str = "due_at") -> datetime:
    """Interpret `value`, a wall-clock time "YYYY-MM-DDTHH:MM" without an offset, in the
    agent's IANA zone and return it in UTC (seconds are accepted too).

    Raises InvalidInput when the text is not such a time, when the zone is unknown, when
    the time does not exist that day (skipped by a spring-forward change) or when it is
    ambiguous (repeated by a fall-back change), because guessing either way could put a
    due time an hour off.
    """
    zone = check_zone(zone_name)
    try:
        naive = (datetime.fromisoformat(value)
                 if isinstance(value, str) and _WALL_TIME.fullmatch(value) else None)
    except ValueError:
        naive = None
    if naive is None or naive.tzinfo is not None:
        raise InvalidInput(f"Invalid local time {str(value)[:40]!r}: use YYYY-MM-DDTHH:MM "
                           "in your own time zone, without an offset.", field=field)
    earlier = naive.replace(tzinfo=zone, fold=0)
    later = naive.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() != later.utcoffset():
        round_trip = earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if round_trip != naive:
            raise InvalidInput(f"{naive:%Y-%m-%d %H:%M} does not exist in {zone.key}: the "
                               "clocks skip it when daylight saving time starts. Enter a time "
                               "after the change.", field=field)
        raise InvalidInput(f"{naive:%Y-%m-%d %H:%M} occurs twice in {zone.key}, because the "
                           "clocks go back when daylight saving time ends. Enter a time "
                           "outside the repeated hour.", field=field)
    return earlier.astimezone(UTC)


def utc_to_local(moment: datetime, zone_name: object) -> datetime:
    """Return a UTC instant as the wall-clock time of an agent's zone."""
    return moment.astimezone(check_zone(zone_name))
