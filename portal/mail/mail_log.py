"""The mail log of a tenant: inbound and outbound mail in one list, newest first, and the
admin's "retry now" for outbound mail."""

from __future__ import annotations

import logging
from datetime import datetime
from email import policy
from email.parser import BytesParser
from typing import Any, Literal

from sqlalchemy import update
from sqlalchemy.engine import CursorResult
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import utcnow
from portal.errors import Conflict, InvalidInput, NotFound
from portal.mail.inbound_models import InboundMail, InboundStatus
from portal.mail.outbox import OutboxMessage, OutboxStatus, check_transition

logger = logging.getLogger(__name__)

MAX_LISTED = 200
Direction = Literal["all", "in", "out"]
DIRECTIONS: tuple[Direction, ...] = ("all", "in", "out")
# The statuses that need an admin's attention, for the "problems" filter.
PROBLEM_STATUSES = frozenset({InboundStatus.QUARANTINED.value, InboundStatus.REJECTED.value,
                              OutboxStatus.FAILED.value, OutboxStatus.RETRYING.value,
                              OutboxStatus.NO_RELAY.value})
RETRYABLE = (OutboxStatus.FAILED, OutboxStatus.RETRYING, OutboxStatus.NO_RELAY)
INBOUND_VALUES = frozenset(item.value for item in InboundStatus)
ALL_STATUSES = ({item.value for item in InboundStatus} | {item.value for item in OutboxStatus}
                | {"problems"})


def check_filters(direction: str | None, status: str | None) -> tuple[Direction, str | None]:
    if direction is None or direction == "":
        direction = "all"
    if direction not in DIRECTIONS:
        raise InvalidInput(f"Invalid direction {direction!r}: use one of "
                           f"{', '.join(DIRECTIONS)}.", field="direction")
    if status == "":
        status = None
    if status is not None and status not in ALL_STATUSES:
        raise InvalidInput(f"Invalid status {status!r}: use one of "
                           f"{', '.join(sorted(ALL_STATUSES))}.", field="status")
    return direction, status


async def mail_log(session: AsyncSession, tenant_id: int, *, direction: Direction = "all",
                   status: str | None = None, limit: int = MAX_LISTED) -> list[dict[str, Any]]:
    """Return the tenant's newest mail, inbound and outbound merged by time."""
    wanted = PROBLEM_STATUSES if status == "problems" else ({status} if status else None)
    items: list[dict[str, Any]] = []
    if direction in ("all", "in"):
        statement = select(InboundMail).where(InboundMail.tenant_id == tenant_id)
        if wanted is not None:
            statement = statement.where(col(InboundMail.status).in_(
                [InboundStatus(value) for value in wanted if value in INBOUND_VALUES]))
        rows = (await session.exec(statement.order_by(col(InboundMail.id).desc())
                                   .limit(limit))).all()
        items.extend(inbound_entry(row) for row in rows)
    if direction in ("all", "out"):
        outbound = select(OutboxMessage).where(OutboxMessage.tenant_id == tenant_id)
        if wanted is not None:
            outbound = outbound.where(col(OutboxMessage.status).in_(sorted(wanted)))
        rows_out = (await session.exec(outbound.order_by(col(OutboxMessage.id).desc())
                                       .limit(limit))).all()
        items.extend(outbound_entry(row) for row in rows_out)
    items.sort(key=lambda item: item["time"], reverse=True)
    return items[:limit]


def inbound_entry(row: InboundMail) -> dict[str, Any]:
    return {"direction": "in", "id": row.id, "app_id": row.app_id, "time": _iso(row.received_at),
            "from": row.from_address or row.envelope_sender, "to": [row.recipient],
            "subject": row.subject, "status": row.status.value, "outcome": row.outcome,
            "error": row.error, "attempts": row.attempts, "size": row.size,
            "message_id": row.message_id, "processed_at": _iso(row.processed_at),
            "next_attempt_at": None, "sent_at": None}


def outbound_entry(row: OutboxMessage) -> dict[str, Any]:
    waiting = row.status in {status.value for status in (OutboxStatus.QUEUED,
                                                          OutboxStatus.RETRYING,
                                                          OutboxStatus.NO_RELAY)}
    return {"direction": "out", "id": row.id, "app_id": row.app_id, "time": _iso(row.created_at),
            "from": row.envelope_from, "to": row.recipients, "subject": _subject(row.content),
            "status": row.status, "outcome": row.ref, "error": row.last_error,
            "attempts": row.attempts, "size": len(row.content), "message_id": row.message_id,
            "processed_at": None,
            "next_attempt_at": _iso(row.next_attempt_at) if waiting else None,
            "sent_at": _iso(row.sent_at)}


async def do_retry_now(session: AsyncSession, tenant_id: int, outbox_id: int) -> OutboxMessage:
    """Make a failed or waiting outbound message of the tenant due now. A failed message
    gets one more attempt; whether a temporary failure then retries again follows the
    usual retry policy, which counts its earlier attempts."""
    row = await session.get(OutboxMessage, outbox_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"Outbound message {outbox_id} not found.", field="outbox_id")
    current = OutboxStatus(row.status)
    if current not in RETRYABLE:
        raise Conflict(f"Outbound message {outbox_id} is {current.value}; only failed, "
                       "retrying or waiting mail can be retried.", field="outbox_id")
    if current is OutboxStatus.FAILED:
        check_transition(current, OutboxStatus.RETRYING)
    statement = (update(OutboxMessage)
                 .where(col(OutboxMessage.id) == outbox_id,
                        col(OutboxMessage.status) == current.value)
                 .values(status=OutboxStatus.RETRYING.value
                         if current is OutboxStatus.FAILED else current.value,
                         next_attempt_at=utcnow())
                 .execution_options(synchronize_session=False))
    result: CursorResult[Any] = await session.exec(statement)
    if result.rowcount != 1:
        raise Conflict(f"Outbound message {outbox_id} changed meanwhile; reload and try "
                       "again.", field="outbox_id")
    await session.refresh(row)
    logger.info("Admin retry of outbound mail %s of tenant %s (was %s, %s attempts)",
                outbox_id, tenant_id, current.value, row.attempts)
    return row


def _subject(content: bytes) -> str:
    try:
        headers = BytesParser(policy=policy.default).parsebytes(content, headersonly=True)
        return str(headers.get("Subject", ""))[:300]
    except (ValueError, TypeError, LookupError, UnicodeError):
        return ""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
