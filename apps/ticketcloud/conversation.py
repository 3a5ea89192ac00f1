"""Replies and internal notes on a ticket, and the status changes they cause."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, Conflict, Forbidden, Principal, Role, UserRecord, utcnow
from ticketcloud import mail_out, ticket_events
from ticketcloud.attachments import AttachmentUpload, check_attachments, do_store_attachments
from ticketcloud.checks import check_body, check_choice, check_email, check_person_name
from ticketcloud.history import record_change
from ticketcloud.models import Message, Ticket, Visibility
from ticketcloud.sla import targets as sla_targets
from ticketcloud.status import Status, check_transition
from ticketcloud.updates import claim_version, set_status

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Author:
    """A message's author: an agent or admin, or a customer with or without an account
    (such as the sender of an email)."""

    name: str
    is_agent: bool
    user_id: int | None = None
    email: str | None = None

    @classmethod
    def of_principal(cls, principal: Principal) -> Author:
        return cls(name=principal.name, is_agent=principal.role is not Role.CUSTOMER,
                   user_id=principal.user_id, email=principal.email.lower())

    @classmethod
    def of_user(cls, user: UserRecord) -> Author:
        return cls(name=user.name, is_agent=user.role is not Role.CUSTOMER, user_id=user.id,
                   email=user.email.lower())

    @classmethod
    def of_email(cls, email: str, name: str = "") -> Author:
        """Return a customer known only by address, such as the sender of an email."""
        address = check_email(email)
        return cls(name=check_person_name(name) or address, is_agent=False, email=address)


async def do_reply(
    context: AppContext, session: AsyncSession, ticket: Ticket, *, author: Author, body: str,
    visibility: str = Visibility.PUBLIC.value, attachments: Sequence[AttachmentUpload] = (),
    mailed_directly: Collection[str] = (),
) -> Message:
    """Add a message to a ticket the caller already loaded with `access_ticket`, and
    stage `ticketcloud.ticket.replied`.

    An agent's first public reply sets `first_response_at` and opens a new ticket. A
    customer's reply reopens a solved ticket and takes a pending one back to open; each
    status change gets a history entry and `ticketcloud.ticket.updated`. Only agents
    write internal notes, and a closed ticket takes no messages. An agent's public reply
    is mailed to the requester and participants, except the addresses in
    `mailed_directly` (lowercased), which got the agent's own mail already.
    """
    checked_visibility = check_choice(Visibility, visibility, field="visibility")
    if checked_visibility is Visibility.INTERNAL and not author.is_agent:
        raise Forbidden("Only agents can write internal notes.", field="visibility")
    if ticket.status is Status.CLOSED:
        raise Conflict(f"Ticket #{ticket.number} is closed and takes no more messages; open a "
                       "new ticket instead.", code="ticket_closed")
    body = check_body(body)
    uploads = check_attachments(attachments)

    assert ticket.id is not None
    now = utcnow()
    message = Message(
        tenant_id=ticket.tenant_id, ticket_id=ticket.id, author_user_id=author.user_id,
        author_email=author.email, author_name=author.name, from_agent=author.is_agent,
        visibility=checked_visibility, body=body, created_at=now,
    )
    session.add(message)
    await session.flush()
    await do_store_attachments(context, session, message, uploads)

    old_status = ticket.status
    new_status, reason = _status_after(ticket, author, checked_visibility)
    first_response = (author.is_agent and checked_visibility is Visibility.PUBLIC
                      and ticket.first_response_at is None)
    if new_status is not None or first_response:
        await claim_version(session, ticket, ticket.version)
    if first_response:
        ticket.first_response_at = now
    if new_status is not None:
        check_transition(old_status, new_status)
        await record_change(session, ticket, field="status", old=old_status, new=new_status,
                            actor_user_id=author.user_id if author.is_agent else None,
                            reason=reason)
        set_status(ticket, new_status, now)
    ticket.updated_at = now
    session.add(ticket)
    await session.flush()

    await sla_targets.record_message(session, ticket, message, now)
    await ticket_events.publish_replied(context, session, ticket, message)
    await mail_out.send_public_reply(context, session, ticket, message,
                                     mailed_directly=mailed_directly)
    if new_status is not None:
        changes = {"status": {"old": old_status.value, "new": new_status.value}}
        await ticket_events.publish_updated(context, session, ticket, changes,
                                            actor_user_id=author.user_id)
    logger.info("Added %s message %s to ticket %s in tenant %s (%s)", checked_visibility.value,
                message.id, ticket.id, ticket.tenant_id, "agent" if author.is_agent else
                "customer")
    return message


def _status_after(ticket: Ticket, author: Author,
                  visibility: Visibility) -> tuple[Status | None, str]:
    """Return the status a message moves the ticket to (None: unchanged) and why."""
    if author.is_agent:
        if visibility is Visibility.PUBLIC and ticket.status is Status.NEW:
            return Status.OPEN, f"{author.name} replied"
        return None, ""
    if ticket.status is Status.SOLVED:
        return Status.OPEN, "Reopened by the customer's reply"
    if ticket.status is Status.PENDING:
        return Status.OPEN, "The customer replied"
    return None, ""
