"""Automatic mail and mail loops (RFC 3834): bounces, out-of-office replies, our own mail
coming back, and the rate limit on automatic replies.

TicketCloud never replies to automatic mail automatically. It also limits the
confirmations it sends to people to MAX_AUTO_REPLIES per address and clock hour in each
workspace, so that two systems cannot mail each other without end.
"""

from __future__ import annotations

import logging

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, ParsedMail, RateLimit
from ticketcloud.history import record_change
from ticketcloud.mail_threads import (
    normalize_message_id,
    own_candidates,
    thread_candidates,
    thread_rows,
)
from ticketcloud.models import MAX_EMAIL, MAX_HISTORY_VALUE, MailBounce, Ticket

logger = logging.getLogger(__name__)

MAX_AUTO_REPLIES = 5
# The portal's rate limits count in fixed windows, here UTC clock hours, and add the
# previous hour's count weighted by the share of it still inside the last 60 minutes.
# So an address gets at most MAX_AUTO_REPLIES confirmations per clock hour. Any 60
# minutes may contain up to 2 * MAX_AUTO_REPLIES - 1, because the weighting assumes that
# the previous hour's confirmations were spread evenly: with 5, that is 5 at 10:59 and
# 4 more from 11:48 on.
AUTO_REPLY_LIMIT = RateLimit(name="mail.auto_reply", max_hits=MAX_AUTO_REPLIES,
                             window_seconds=3600)


def is_own_mail(context: AppContext, mail: ParsedMail) -> bool:
    """Return whether `mail` is one the portal sent: its Message-ID carries the portal's
    signature (for any workspace), so it came back through a forward or a loop."""
    message_id = normalize_message_id(mail.message_id)
    return message_id is not None and context.verify_message_id(message_id) is not None


async def do_count_auto_reply(context: AppContext, session: AsyncSession, tenant_id: int,
                              email: str) -> bool:
    """Count one automatic reply to `email` in the workspace `tenant_id` if the address is
    under AUTO_REPLY_LIMIT; return whether it was counted.

    The hit belongs to `session`'s transaction, so a rollback takes it back. On
    PostgreSQL the address's counter row stays locked until that transaction ends, so
    concurrent mail from one address waits here instead of passing the limit together.
    """
    result = await context.hit_rate_limit(AUTO_REPLY_LIMIT, f"{tenant_id}:{email.lower()}",
                                          session=session)
    return result.allowed


async def bounced_ticket(context: AppContext, session: AsyncSession, tenant_id: int,
                         mail: ParsedMail) -> Ticket | None:
    """Return the ticket whose mail bounced: by the original Message-ID that the report
    names, else by the report's own In-Reply-To and References."""
    assert mail.bounce is not None
    ids = [normalize_message_id(mail.bounce.original_message_id), *thread_candidates(mail)]
    candidates = own_candidates(context, tenant_id, [item for item in ids if item])
    for row in await thread_rows(session, tenant_id, candidates):
        ticket = await session.get(Ticket, row.ticket_id)
        if ticket is not None and ticket.tenant_id == tenant_id:
            return ticket
    return None


async def do_record_bounce(session: AsyncSession, ticket: Ticket,
                           mail: ParsedMail) -> list[str]:
    """Mark the failed recipients of a bounce as bouncing on the ticket, with a history
    entry; return their addresses. A report that names no recipient marks the
    requester, because ticket mail always goes to the requester."""
    assert mail.bounce is not None and ticket.id is not None
    recipients = [item for item in mail.bounce.recipients if item.action in ("failed", "")
                  or item.status.startswith("5")] or list(mail.bounce.recipients)
    rows = [MailBounce(tenant_id=ticket.tenant_id, ticket_id=ticket.id,
                       email=item.address.lower()[:MAX_EMAIL], status=item.status[:32],
                       permanent=item.action == "failed" or item.status.startswith("5"),
                       diagnostic=item.diagnostic[:MAX_HISTORY_VALUE])
            for item in recipients if item.address]
    if not rows:
        rows = [MailBounce(tenant_id=ticket.tenant_id, ticket_id=ticket.id,
                           email=ticket.requester_email, permanent=True,
                           diagnostic=mail.subject[:MAX_HISTORY_VALUE])]
    session.add_all(rows)
    addresses = [row.email for row in rows]
    await record_change(session, ticket, field="mail_bounce", old=None,
                        new=", ".join(addresses),
                        reason=f"Mail to {', '.join(addresses)} bounced"
                               f"{': ' + rows[0].diagnostic if rows[0].diagnostic else ''}")
    await session.flush()
    logger.info("Marked %s addresses as bouncing on ticket %s of tenant %s", len(rows),
                ticket.id, ticket.tenant_id)
    return addresses


async def bouncing_addresses(session: AsyncSession, ticket: Ticket) -> list[dict[str, object]]:
    """Return each address of the ticket that bounced and whose mark is not cleared, with
    its latest report."""
    rows = (await session.exec(select(MailBounce).where(
        MailBounce.tenant_id == ticket.tenant_id, MailBounce.ticket_id == ticket.id,
        col(MailBounce.cleared_at).is_(None)).order_by(col(MailBounce.id)))).all()
    latest = {row.email: row for row in rows}
    return [{"email": row.email, "status": row.status, "permanent": row.permanent,
             "diagnostic": row.diagnostic,
             "created_at": row.created_at.isoformat(timespec="seconds").replace("+00:00", "Z")}
            for row in latest.values()]


async def do_record_automatic(session: AsyncSession, ticket: Ticket, mail: ParsedMail,
                              sender: str) -> None:
    """Note automatic mail on a ticket (an out-of-office reply, or mail marked automatic)
    as a history entry. It never changes the ticket's status or assignee."""
    kind = "Out-of-office reply" if mail.is_out_of_office else "Automatic mail"
    await record_change(session, ticket, field="auto_reply", old=None, new=sender,
                        reason=f"{kind} from {sender}: {mail.subject}")
    await session.flush()
