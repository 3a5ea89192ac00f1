"""The SLA report's figures: medians of business seconds shown in business minutes."""

from __future__ import annotations

from ticketcloud.sla.report import SlaFigures


def test_figures_median_minutes_from_seconds() -> None:
    figures = SlaFigures(
        id=None, met=3, first_response_seconds=[61, 90, 3600], resolution_seconds=[100, 200]
    )

    view = figures.as_json()

    assert view["median_first_response_minutes"] == 1.5
    # The median of 100 s and 200 s is 150 s, or 2.5 minutes.
    assert view["median_resolution_minutes"] == 2.5
    assert view["first_responses"] == 3


def test_figures_median_minutes_rounds_to_two_decimals() -> None:
    figures = SlaFigures(id=None, first_response_seconds=[61])

    assert figures.as_json()["median_first_response_minutes"] == 1.02
    assert figures.as_json()["median_resolution_minutes"] is None
