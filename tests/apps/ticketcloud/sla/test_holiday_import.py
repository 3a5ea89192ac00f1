"""Holidays from the `holidays` package and from iCalendar files."""

from __future__ import annotations

import pytest

from portal.sdk import InvalidInput
from ticketcloud.sla.holiday_import import MAX_ICAL_BYTES, country_holidays, ical_holidays


def ical(*events: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + "".join(events)
            + "END:VCALENDAR\r\n")


def event(uid: str, *lines: str) -> str:
    return f"BEGIN:VEVENT\r\nUID:{uid}\r\n" + "".join(f"{line}\r\n" for line in lines) + \
        "END:VEVENT\r\n"


def test_country_holidays_with_region() -> None:
    bavaria = {item["date"] for item in country_holidays("de", "by", [2026])}
    berlin = {item["date"] for item in country_holidays("DE", "BE", [2026])}

    assert "2026-12-25" in bavaria
    assert "2026-01-06" in bavaria  # Epiphany is a holiday in Bavaria only.
    assert "2026-01-06" not in berlin


@pytest.mark.parametrize(("country", "region", "years", "field"), [
    ("XX", None, [2026], "country"),
    ("DE", "ZZ", [2026], "region"),
    ("DE", None, [2150], "years"),
    ("DE", None, [], "years"),
    ("DE", None, "2026", "years"),
    ("", None, [2026], "country"),
])
def test_country_holidays_rejects(country: str, region: str | None, years: object,
                                  field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        country_holidays(country, region, years)

    assert raised.value.field == field


def test_ical_holidays_multi_day_and_recurring() -> None:
    data = ical(
        event("1", "DTSTART;VALUE=DATE:20261224", "DTEND;VALUE=DATE:20261227",
              "SUMMARY:Christmas break"),
        event("2", "DTSTART;VALUE=DATE:20270101", "RRULE:FREQ=YEARLY;COUNT=2",
              "SUMMARY:New Year"))

    holidays = ical_holidays(data)

    assert [item["date"] for item in holidays] == [
        "2026-12-24", "2026-12-25", "2026-12-26", "2027-01-01", "2028-01-01"]
    assert holidays[0]["name"] == "Christmas break"


@pytest.mark.parametrize("data", [
    "not a calendar",
    ical(event("1", "SUMMARY:No date")),
    ical(event("1", "DTSTART:yesterday")),
    ical(),
    "",
])
def test_ical_holidays_rejects_malformed(data: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        ical_holidays(data)

    assert raised.value.field == "ical"


def test_ical_holidays_rejects_oversized() -> None:
    data = ical(event("1", "DTSTART;VALUE=DATE:20261224", "DESCRIPTION:" + "x" * MAX_ICAL_BYTES))

    with pytest.raises(InvalidInput) as raised:
        ical_holidays(data)

    assert "maximum" in raised.value.message


def test_ical_holidays_rejects_date_out_of_range() -> None:
    with pytest.raises(InvalidInput) as raised:
        ical_holidays(ical(event("1", "DTSTART;VALUE=DATE:21500101")))

    assert "supported range" in raised.value.message


def test_ical_holidays_bounds_endless_rule() -> None:
    with pytest.raises(InvalidInput) as raised:
        ical_holidays(ical(event("1", "DTSTART;VALUE=DATE:20260101", "RRULE:FREQ=SECONDLY")))

    assert "repeats more than" in raised.value.message
