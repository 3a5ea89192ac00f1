"""The ratings breakdown of the Reports window: per agent and per team, the count, the
average, how many ratings gave each score from 1 to 5, and the newest comments.

`ratings.ratings_report` keeps the short roll-up that the REST API already served; this
module adds the detail that a person reading the report needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ticketcloud.models import Rating, Ticket

# The newest comments shown per agent or team.
RECENT_COMMENTS = 5
SCORES = (1, 2, 3, 4, 5)

GroupColumn = Literal["agent_id", "team_id"]


@dataclass(frozen=True)
class RatingComment:
    ticket_number: int
    score: int
    comment: str
    created_at: datetime


@dataclass
class RatingBreakdown:
    """The ratings of one agent or team."""

    id: int
    count: int = 0
    average: float = 0.0
    # Score (1 to 5) to the number of ratings that gave it; every score is present.
    distribution: dict[int, int] = field(default_factory=lambda: dict.fromkeys(SCORES, 0))
    recent: list[RatingComment] = field(default_factory=list)


@dataclass(frozen=True)
class RatingsBreakdown:
    agents: list[RatingBreakdown]
    teams: list[RatingBreakdown]


async def ratings_breakdown(session: AsyncSession, tenant_id: int) -> RatingsBreakdown:
    """Return the tenant's ratings per agent and per team, each ordered by id. Ratings of
    unassigned tickets count for no agent, and of tickets without a team for no team."""
    return RatingsBreakdown(agents=await _breakdown(session, tenant_id, "agent_id"),
                            teams=await _breakdown(session, tenant_id, "team_id"))


async def _breakdown(session: AsyncSession, tenant_id: int,
                     column_name: GroupColumn) -> list[RatingBreakdown]:
    column = col(getattr(Rating, column_name))
    groups: dict[int, RatingBreakdown] = {}
    counts = (select(column, col(Rating.score), func.count())
              .where(Rating.tenant_id == tenant_id, column.is_not(None))
              .group_by(column, col(Rating.score)))
    for key, score, count in (await session.exec(counts)).all():
        group = groups.setdefault(int(key), RatingBreakdown(id=int(key)))
        group.distribution[int(score)] = int(count)
    for group in groups.values():
        group.count = sum(group.distribution.values())
        total = sum(score * count for score, count in group.distribution.items())
        group.average = round(total / group.count, 2)

    # Numbers each group's commented ratings from the newest, so that one query returns
    # at most RECENT_COMMENTS per group however many ratings there are.
    rank = func.row_number().over(partition_by=column,
                                  order_by=(col(Rating.created_at).desc(),
                                            col(Rating.id).desc())).label("rank")
    ranked = (sa.select(column.label("key"), col(Ticket.number).label("number"),
                        col(Rating.score).label("score"), col(Rating.comment).label("comment"),
                        col(Rating.created_at).label("created_at"), rank)
              .join(Ticket, col(Ticket.id) == col(Rating.ticket_id))
              .where(col(Rating.tenant_id) == tenant_id, column.is_not(None),
                     func.length(Rating.comment) > 0)
              .subquery())
    # Typed as Any because sqlmodel's exec has no overload for a select from a subquery.
    recent: Any = (sa.select(ranked.c.key, ranked.c.number, ranked.c.score,
                             ranked.c.comment, ranked.c.created_at)
                   .where(ranked.c.rank <= RECENT_COMMENTS)
                   .order_by(ranked.c.key, ranked.c.rank))
    for key, number, score, comment, created_at in (await session.exec(recent)).all():
        groups[int(key)].recent.append(RatingComment(int(number), int(score), comment,
                                                     created_at))
    return [groups[key] for key in sorted(groups)]
