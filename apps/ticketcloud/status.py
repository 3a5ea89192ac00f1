"""The ticket lifecycle: statuses and the transitions allowed between them."""

from __future__ import annotations

import enum
from collections.abc import Mapping

from portal.sdk import InvalidInput


class Status(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"  # waiting on the customer
    ON_HOLD = "on_hold"  # waiting on a third party
    SOLVED = "solved"
    CLOSED = "closed"


# NOTE: new is only ever the first status. solved goes back only to open (a reopen, by a
# customer reply or an agent), and closed is final: a customer who writes again about a
# closed ticket gets a new ticket.
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED}),
    Status.OPEN: frozenset({Status.PENDING, Status.ON_HOLD, Status.SOLVED}),
    Status.PENDING: frozenset({Status.OPEN, Status.ON_HOLD, Status.SOLVED}),
    Status.ON_HOLD: frozenset({Status.OPEN, Status.PENDING, Status.SOLVED}),
    Status.SOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}

# Statuses whose tickets still need work; least-open assignment counts these.
UNRESOLVED = frozenset({Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD})


def check_status(value: object) -> Status:
    """Return `value` as a Status, or raise InvalidInput listing the statuses."""
    try:
        return Status(str(value))
    except ValueError:
        choices = ", ".join(member.value for member in Status)
        raise InvalidInput(f"Unknown status {value!r}: choose one of {choices}.",
                           field="status") from None


def allowed_targets(current: Status) -> list[Status]:
    """Return the statuses a ticket in `current` may move to, in lifecycle order."""
    return [status for status in Status if status in TRANSITIONS[current]]


def check_transition(old: Status, new: Status) -> None:
    """Raise InvalidInput unless a ticket may move from `old` to `new`."""
    if new in TRANSITIONS[old]:
        return
    targets = ", ".join(status.value for status in allowed_targets(old))
    if old is Status.CLOSED:
        hint = "closed is final; ask the customer to open a new ticket"
    else:
        hint = f"from {old.value} a ticket may move to {targets}"
    raise InvalidInput(f"Cannot change the status from {old.value} to {new.value}: {hint}.",
                       field="status")
