"""The ticket lifecycle: the transition table and the errors for illegal moves."""

from __future__ import annotations

import itertools

import pytest

from portal.sdk import InvalidInput
from ticketcloud.status import TRANSITIONS, Status, allowed_targets, check_status, check_transition

ALLOWED = {
    (Status.NEW, Status.OPEN), (Status.NEW, Status.PENDING), (Status.NEW, Status.ON_HOLD),
    (Status.NEW, Status.SOLVED),
    (Status.OPEN, Status.PENDING), (Status.OPEN, Status.ON_HOLD), (Status.OPEN, Status.SOLVED),
    (Status.PENDING, Status.OPEN), (Status.PENDING, Status.ON_HOLD),
    (Status.PENDING, Status.SOLVED),
    (Status.ON_HOLD, Status.OPEN), (Status.ON_HOLD, Status.PENDING),
    (Status.ON_HOLD, Status.SOLVED),
    (Status.SOLVED, Status.OPEN), (Status.SOLVED, Status.CLOSED),
}
ILLEGAL = sorted(set(itertools.product(Status, Status)) - ALLOWED)


def test_transitions_table_covers_every_status() -> None:
    assert set(TRANSITIONS) == set(Status)


@pytest.mark.parametrize(("old", "new"), sorted(ALLOWED))
def test_check_transition_allowed(old: Status, new: Status) -> None:
    check_transition(old, new)


@pytest.mark.parametrize(("old", "new"), ILLEGAL)
def test_check_transition_illegal(old: Status, new: Status) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_transition(old, new)

    assert raised.value.field == "status"
    assert f"from {old.value} to {new.value}" in raised.value.message


def test_check_transition_lists_allowed_targets() -> None:
    with pytest.raises(InvalidInput) as raised:
        check_transition(Status.SOLVED, Status.PENDING)

    assert "may move to open, closed" in raised.value.message


def test_check_transition_closed_is_final() -> None:
    with pytest.raises(InvalidInput) as raised:
        check_transition(Status.CLOSED, Status.OPEN)

    assert "closed is final" in raised.value.message
    assert allowed_targets(Status.CLOSED) == []


def test_check_transition_nothing_returns_to_new() -> None:
    assert all(Status.NEW not in targets for targets in TRANSITIONS.values())


def test_check_transition_solved_reopens_only_to_open() -> None:
    assert allowed_targets(Status.SOLVED) == [Status.OPEN, Status.CLOSED]


def test_check_status_unknown() -> None:
    with pytest.raises(InvalidInput) as raised:
        check_status("done")

    assert "'done'" in raised.value.message
    assert "new, open, pending, on_hold, solved, closed" in raised.value.message


def test_check_status_known() -> None:
    assert check_status("on_hold") is Status.ON_HOLD
