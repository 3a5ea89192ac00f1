"""Due times entered in an agent's wall-clock time."""

from __future__ import annotations

import pytest

from portal.sdk import InvalidInput
from tests.apps.ticketcloud.sla.calendars_for_tests import utc
from ticketcloud.sla.local_time import local_to_utc, utc_to_local


def test_local_to_utc_in_summer_and_winter() -> None:
    assert local_to_utc("2026-07-01T09:00", "Europe/Berlin") == utc(2026, 7, 1, 7, 0)
    assert local_to_utc("2026-01-05T09:00", "America/New_York") == utc(2026, 1, 5, 14, 0)


@pytest.mark.parametrize(("value", "zone"), [
    ("2026-03-29T02:30", "Europe/Berlin"),
    ("2026-03-08T02:15", "America/New_York"),
])
def test_local_to_utc_rejects_skipped_time(value: str, zone: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        local_to_utc(value, zone)

    assert "does not exist" in raised.value.message
    assert raised.value.field == "due_at"


@pytest.mark.parametrize(("value", "zone"), [
    ("2026-10-25T02:30", "Europe/Berlin"),
    ("2026-11-01T01:30", "America/New_York"),
])
def test_local_to_utc_rejects_repeated_time(value: str, zone: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        local_to_utc(value, zone)

    assert "occurs twice" in raised.value.message


def test_local_to_utc_accepts_edges_of_change() -> None:
    assert local_to_utc("2026-03-29T03:00", "Europe/Berlin") == utc(2026, 3, 29, 1, 0)
    assert local_to_utc("2026-10-25T03:00", "Europe/Berlin") == utc(2026, 10, 25, 2, 0)


@pytest.mark.parametrize("value", ["2026-07-01T09:00+02:00", "tomorrow", "", None])
def test_local_to_utc_rejects_bad_text(value: object) -> None:
    with pytest.raises(InvalidInput) as raised:
        local_to_utc(value, "Europe/Berlin")

    assert raised.value.field == "due_at"


def test_local_to_utc_rejects_unknown_zone() -> None:
    with pytest.raises(InvalidInput) as raised:
        local_to_utc("2026-07-01T09:00", "Europe/Atlantis")

    assert raised.value.field == "time_zone"


def test_utc_to_local_shows_agent_zone() -> None:
    local = utc_to_local(utc(2026, 7, 1, 7, 0), "Europe/Berlin")

    assert local.hour == 9
    assert local.isoformat() == "2026-07-01T09:00:00+02:00"
