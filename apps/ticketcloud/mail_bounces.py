"""Bouncing addresses of a ticket: which ticket mail skips them, and how the mark ends.

`mail_loops.do_record_bounce` marks an address as bouncing on the ticket whose mail
bounced. From then on `mail_out` leaves that address out of every mail of the ticket
(confirmations, replies, rating requests) and records a `MailSkip` row, which the ticket
window shows as "not sent to X: the address bounced on <date>". When every recipient of
a mail bounces, no outbox row is written at all.

The mark ends when an agent clears it in the ticket window, or when mail from the
address arrives, because an address that sends mail works again. Either way the ticket
gets a history entry.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import InvalidInput, NotFound, utcnow
from ticketcloud.history import record_change
from ticketcloud.models import MAX_EMAIL, MailBounce, MailSkip, MailSkipReason, Message, Ticket

logger = logging.getLogger(__name__)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    text: str = value.isoformat(timespec="seconds").replace("+00:00", "Z")
    return text


async def active_bounces(session: AsyncSession, ticket: Ticket) -> dict[str, MailBounce]:
    """Return the ticket's bouncing addresses with their latest uncleared bounce."""
    rows = (
        await session.exec(
            select(MailBounce)
            .where(
                MailBounce.tenant_id == ticket.tenant_id,
                MailBounce.ticket_id == ticket.id,
                col(MailBounce.cleared_at).is_(None),
            )
            .order_by(col(MailBounce.id))
        )
    ).all()
    return {row.email: row for row in rows}


async def do_record_skips(
    session: AsyncSession, ticket: Ticket, message: Message | None, skipped: Sequence[MailBounce]
) -> None:
    """Record that a mail of the ticket left out the `skipped` bouncing addresses."""
    assert ticket.id is not None
    session.add_all(
        [
            MailSkip(
                tenant_id=ticket.tenant_id,
                ticket_id=ticket.id,
                ticketcloud_message_id=message.id if message else None,
                email=row.email,
                bounced_at=row.created_at,
            )
            for row in skipped
        ]
    )
    await session.flush()
    logger.info(
        "Mail of ticket %s of tenant %s (message %s) skipped bouncing addresses %s",
        ticket.id,
        ticket.tenant_id,
        message.id if message else None,
        ", ".join(row.email for row in skipped),
    )


async def do_record_unmailable(session: AsyncSession, ticket: Ticket, message: Message | None,
                               emails: Sequence[str]) -> None:
    """Record that a mail of the ticket left out addresses the outbox cannot send to."""
    assert ticket.id is not None
    session.add_all([
        MailSkip(tenant_id=ticket.tenant_id, ticket_id=ticket.id,
                 ticketcloud_message_id=message.id if message else None,
                 email=email.lower()[:MAX_EMAIL], reason=MailSkipReason.UNMAILABLE,
                 bounced_at=None, created_at=utcnow())
        for email in emails])
    await session.flush()
    logger.warning("Mail of ticket %s of tenant %s (message %s) left out addresses the "
                   "outbox cannot send to: %s", ticket.id, ticket.tenant_id,
                   message.id if message else None, ", ".join(emails))


async def skipped_mail(session: AsyncSession, ticket: Ticket) -> list[dict[str, Any]]:
    """Return the recipients that the ticket's mail left out, oldest first: for each, the
    conversation message the mail carried (or None), the address, why it was left out
    and when it bounced (None for an address the outbox cannot send to)."""
    rows = (
        await session.exec(
            select(MailSkip)
            .where(MailSkip.tenant_id == ticket.tenant_id, MailSkip.ticket_id == ticket.id)
            .order_by(col(MailSkip.id))
        )
    ).all()
    return [
        {
            "message_id": row.ticketcloud_message_id,
            "email": row.email,
            "reason": row.reason.value,
            "bounced_at": _iso(row.bounced_at),
            "created_at": _iso(row.created_at),
        }
        for row in rows
    ]


def check_bounce_email(value: object) -> str:
    """Return `value` as a lowercased address, or raise InvalidInput naming `email`."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_EMAIL:
        raise InvalidInput(
            f"Invalid email {value!r}: name one of the ticket's bouncing addresses.", field="email"
        )
    return value.strip().lower()


async def do_clear_bounce(
    session: AsyncSession, ticket: Ticket, email: object, *, actor_user_id: int
) -> str:
    """Clear the bouncing mark of `email` on the ticket for an agent, with a history
    entry; return the address. Raises NotFound when the address is not bouncing there."""
    address = check_bounce_email(email)
    rows = [
        row
        for row in (await _uncleared(session, ticket.tenant_id, address))
        if row.ticket_id == ticket.id
    ]
    if not rows:
        raise NotFound(
            f"{address} is not marked as bouncing on ticket #{ticket.number}; "
            "reload the ticket to see its bouncing addresses.",
            field="email",
        )
    await _clear(
        session,
        ticket,
        rows,
        actor_user_id=actor_user_id,
        reason=f"An agent cleared the bouncing mark of {address}",
    )
    logger.info(
        "User %s cleared the bouncing mark of %s on ticket %s of tenant %s",
        actor_user_id,
        address,
        ticket.id,
        ticket.tenant_id,
    )
    return address


async def do_clear_bounces_from(session: AsyncSession, tenant_id: int, sender: str) -> list[int]:
    """Clear the bouncing mark of `sender` on every ticket of the workspace, because mail
    from the address just arrived. Return the numbers of the tickets changed.

    NOTE: a forged From address clears the mark too. The cost is one more mail to an
    address that may bounce again, which marks it again."""
    rows = await _uncleared(session, tenant_id, sender.strip().lower())
    by_ticket: dict[int, list[MailBounce]] = {}
    for row in rows:
        by_ticket.setdefault(row.ticket_id, []).append(row)
    numbers = []
    for ticket_id, ticket_rows in by_ticket.items():
        ticket = await session.get(Ticket, ticket_id)
        if ticket is None or ticket.tenant_id != tenant_id:
            continue
        await _clear(
            session,
            ticket,
            ticket_rows,
            actor_user_id=None,
            reason=f"Mail from {ticket_rows[0].email} arrived, so the address works again",
        )
        numbers.append(ticket.number)
    if numbers:
        logger.info(
            "Mail from %s cleared its bouncing mark on tickets %s of tenant %s",
            sender,
            numbers,
            tenant_id,
        )
    return numbers


# Built once, because every inbound mail with a sender runs it.
_UNCLEARED = (
    select(MailBounce)
    .where(
        MailBounce.tenant_id == bindparam("tenant_id"),
        MailBounce.email == bindparam("address"),
        col(MailBounce.cleared_at).is_(None),
    )
    .order_by(col(MailBounce.id))
)


async def _uncleared(session: AsyncSession, tenant_id: int, address: str) -> list[MailBounce]:
    rows = await session.exec(_UNCLEARED, params={"tenant_id": tenant_id, "address": address})
    return list(rows.all())


async def _clear(
    session: AsyncSession,
    ticket: Ticket,
    rows: Sequence[MailBounce],
    *,
    actor_user_id: int | None,
    reason: str,
) -> None:
    now = utcnow()
    for row in rows:
        row.cleared_at = now
        session.add(row)
    await record_change(
        session,
        ticket,
        field="mail_bounce",
        old=rows[0].email,
        new=None,
        actor_user_id=actor_user_id,
        reason=reason,
    )
    await session.flush()
