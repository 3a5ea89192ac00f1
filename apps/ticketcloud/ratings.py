"""Customer ratings of solved tickets, through signed single-use links, and their
roll-ups per agent and team.

A rating token is `<ticket id>.<nonce>.<signature>`. The signature is HMAC-SHA256 with
the app's signing key over the tenant, the ticket id and the nonce, so a token cannot be
forged or moved to another ticket or workspace. The ticket stores only the SHA-256 of
the newest nonce, and rating clears it, so each link works once. Issuing a new link, and
reopening or closing the ticket, void the old one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, Conflict, InvalidInput, NotFound, utcnow
from ticketcloud import ticket_events
from ticketcloud.models import Rating, Ticket
from ticketcloud.status import Status

logger = logging.getLogger(__name__)

MAX_COMMENT = 2000
_TOKEN = re.compile(r"^([1-9][0-9]{0,18})\.([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{43})$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class RatingRollup:
    """The ratings of one agent or team: how many, and their average score."""

    id: int
    count: int
    average: float


@dataclass(frozen=True)
class RatingsReport:
    agents: list[RatingRollup]
    teams: list[RatingRollup]


async def do_issue_rating_token(context: AppContext, session: AsyncSession,
                                ticket: Ticket) -> str:
    """Return a new rating token for a solved ticket; any earlier token stops working."""
    if ticket.status is not Status.SOLVED:
        raise Conflict(f"Ticket #{ticket.number} is {ticket.status.value}; rating links are "
                       "for solved tickets.", code="ticket_not_solved")
    assert ticket.id is not None
    nonce = secrets.token_urlsafe(24)
    ticket.rating_nonce_hash = _nonce_hash(nonce)
    session.add(ticket)
    logger.info("Issued a rating link for ticket %s of tenant %s", ticket.id, ticket.tenant_id)
    return f"{ticket.id}.{nonce}.{_signature(context, ticket.tenant_id, ticket.id, nonce)}"


async def access_rating_ticket(context: AppContext, session: AsyncSession, tenant_id: int,
                               token: str) -> Ticket:
    """Return the ticket a rating token is for, or raise NotFound when the token is
    malformed, forged, for another workspace, or already used."""
    invalid = NotFound("This rating link is invalid or was already used.", field="token")
    match = _TOKEN.match(token) if isinstance(token, str) else None
    if match is None:
        raise invalid
    ticket_id, nonce, signature = int(match[1]), match[2], match[3]
    expected = _signature(context, tenant_id, ticket_id, nonce)
    if not hmac.compare_digest(signature, expected):
        raise invalid
    ticket = await session.get(Ticket, ticket_id)
    if (ticket is None or ticket.tenant_id != tenant_id or ticket.rating_nonce_hash is None
            or not hmac.compare_digest(ticket.rating_nonce_hash, _nonce_hash(nonce))):
        raise invalid
    return ticket


async def do_rate(context: AppContext, session: AsyncSession, *, tenant_id: int, token: str,
                  score: object, comment: object = "") -> Rating:
    """Store the requester's rating of a solved ticket, spend the token, and stage
    `ticketcloud.ticket.rated`. A later rating of the same ticket replaces this one."""
    ticket = await access_rating_ticket(context, session, tenant_id, token)
    checked_score = check_score(score)
    checked_comment = check_comment(comment)
    if ticket.status is not Status.SOLVED:
        raise Conflict(f"Ticket #{ticket.number} is {ticket.status.value}; only a solved "
                       "ticket can be rated.", code="ticket_not_solved")
    assert ticket.id is not None

    rating = (await session.exec(select(Rating).where(
        Rating.ticket_id == ticket.id))).first() or Rating(
            tenant_id=tenant_id, ticket_id=ticket.id, score=checked_score)
    rating.score = checked_score
    rating.comment = checked_comment
    rating.agent_id = ticket.assignee_id
    rating.team_id = ticket.team_id
    rating.created_at = utcnow()
    ticket.rating_nonce_hash = None
    session.add_all([rating, ticket])
    await session.flush()
    await ticket_events.publish_rated(context, session, ticket, rating)
    logger.info("Ticket %s of tenant %s was rated %s", ticket.id, tenant_id, checked_score)
    return rating


def check_score(score: object) -> int:
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise InvalidInput(f"Invalid score {score!r}: choose a whole number from 1 to 5.",
                           field="score")
    return score


def check_comment(comment: object) -> str:
    if not isinstance(comment, str):
        raise InvalidInput(f"The comment must be text, not {type(comment).__name__}.",
                           field="comment")
    comment = _CONTROL.sub("", comment).strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"The comment is {len(comment)} characters; the maximum is "
                           f"{MAX_COMMENT}.", field="comment")
    return comment


async def ratings_report(session: AsyncSession, tenant_id: int) -> RatingsReport:
    """Return the count and average score of the tenant's ratings per agent and per team,
    each ordered by id. Ratings of unassigned tickets count for no agent."""
    return RatingsReport(agents=await _rollup(session, tenant_id, "agent_id"),
                         teams=await _rollup(session, tenant_id, "team_id"))


async def _rollup(session: AsyncSession, tenant_id: int, column_name: str) -> list[RatingRollup]:
    column = col(getattr(Rating, column_name))
    statement = (select(column, func.count(), func.avg(Rating.score))
                 .where(Rating.tenant_id == tenant_id, column.is_not(None))
                 .group_by(column).order_by(column))
    return [RatingRollup(id=int(key), count=int(count), average=round(float(average), 2))
            for key, count, average in (await session.exec(statement)).all()]


def _signature(context: AppContext, tenant_id: int, ticket_id: int, nonce: str) -> str:
    if not context.signing_key:
        raise RuntimeError(f"App {context.app_id!r} has no signing key, so rating links "
                           "cannot be signed; load it through the portal's registry")
    message = f"ticketcloud-rating:{tenant_id}:{ticket_id}:{nonce}".encode()
    digest = hmac.new(context.signing_key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()
