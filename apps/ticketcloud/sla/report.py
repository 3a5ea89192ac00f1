"""The SLA report: per team and per agent, over a period, the share of targets met and
the median business minutes to the first response and to resolution.

A target counts in the period when it was decided in it: completed (met or breached)
at a time in the period, or still running with its due time in the period and already
passed (a breach not completed yet). The share met is met targets over counted targets.
The medians read completed first-response and resolution targets, whose
`consumed_seconds` is the business time they took, and are shown in business minutes
with two decimals. A target counts for the ticket's
current team and assignee; tickets without one count only in the total.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import InvalidInput
from ticketcloud.models import SlaTarget, TargetKind, TargetState, Ticket

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    """From `start` (inclusive) to `end` (exclusive), in UTC."""

    start: datetime
    end: datetime


@dataclass
class SlaFigures:
    """The SLA figures of one team, one agent or the whole workspace."""

    id: int | None
    met: int = 0
    missed: int = 0
    # Business seconds that each completed target took.
    first_response_seconds: list[int] = field(default_factory=list)
    resolution_seconds: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        counted = self.met + self.missed
        return {"id": self.id, "targets": counted, "met": self.met, "missed": self.missed,
                "met_share": round(self.met / counted, 4) if counted else None,
                "first_responses": len(self.first_response_seconds),
                "median_first_response_minutes": _median_minutes(self.first_response_seconds),
                "resolutions": len(self.resolution_seconds),
                "median_resolution_minutes": _median_minutes(self.resolution_seconds)}


@dataclass(frozen=True)
class SlaReport:
    period: Period
    total: SlaFigures
    teams: list[SlaFigures]
    agents: list[SlaFigures]


def check_period(start: str | None, end: str | None, now: datetime) -> Period:
    """Return the period of dates `start` to `end`, both inclusive (YYYY-MM-DD, UTC);
    the default is the last DEFAULT_DAYS days up to today."""
    last = _date(end, "to") if end is not None else now.astimezone(UTC).date()
    first = _date(start, "from") if start is not None else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidInput(f"Invalid period {first} to {last}: 'from' must not be after "
                           "'to'.", field="from")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(f"The period {first} to {last} is longer than {MAX_DAYS} days; "
                           "choose a shorter one.", field="from")
    return Period(start=datetime.combine(first, time(), UTC),
                  end=datetime.combine(last + timedelta(days=1), time(), UTC))


async def sla_report(session: AsyncSession, tenant_id: int, period: Period,
                     now: datetime) -> SlaReport:
    """Return the tenant's SLA figures for `period`; teams and agents ordered by id."""
    completed = sa.and_(col(SlaTarget.state).in_([TargetState.MET, TargetState.BREACHED]),
                        col(SlaTarget.completed_at) >= period.start,
                        col(SlaTarget.completed_at) < period.end)
    overdue = sa.and_(col(SlaTarget.state) == TargetState.RUNNING,
                      col(SlaTarget.due_at) >= period.start,
                      col(SlaTarget.due_at) < min(period.end, now))
    statement = (select(SlaTarget, Ticket.team_id, Ticket.assignee_id)
                 .join(Ticket, col(Ticket.id) == SlaTarget.ticket_id)
                 .where(SlaTarget.tenant_id == tenant_id, sa.or_(completed, overdue)))
    # NOTE: the targets of the whole period are read into memory at once.
    rows = (await session.exec(statement)).all()
    total = SlaFigures(id=None)
    teams: dict[int, SlaFigures] = {}
    agents: dict[int, SlaFigures] = {}
    for target, team_id, assignee_id in rows:
        groups = [total]
        if team_id is not None:
            groups.append(teams.setdefault(team_id, SlaFigures(id=team_id)))
        if assignee_id is not None:
            groups.append(agents.setdefault(assignee_id, SlaFigures(id=assignee_id)))
        _count(groups, target.kind, target.state, target.consumed_seconds)
    return SlaReport(period=period, total=total, teams=_ordered(teams.values()),
                     agents=_ordered(agents.values()))


def report_json(report: SlaReport) -> dict[str, Any]:
    return {"from": report.period.start.date().isoformat(),
            "to": (report.period.end.date() - timedelta(days=1)).isoformat(),
            "total": report.total.as_json(),
            "teams": [item.as_json() for item in report.teams],
            "agents": [item.as_json() for item in report.agents]}


def _count(groups: list[SlaFigures], kind: TargetKind, state: TargetState,
           seconds: int) -> None:
    for group in groups:
        if state is TargetState.MET:
            group.met += 1
        else:
            group.missed += 1
        if state is TargetState.RUNNING:
            continue
        if kind is TargetKind.FIRST_RESPONSE:
            group.first_response_seconds.append(seconds)
        elif kind is TargetKind.RESOLUTION:
            group.resolution_seconds.append(seconds)


def _ordered(groups: Iterable[SlaFigures]) -> list[SlaFigures]:
    return sorted(groups, key=lambda group: group.id or 0)


def _median_minutes(seconds: list[int]) -> float | None:
    """Return the median of business seconds in minutes, rounded to two decimals."""
    return round(statistics.median(seconds) / 60, 2) if seconds else None


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"Invalid {name} {value[:40]!r}: use a date such as 2026-03-31.",
                           field=name) from None
