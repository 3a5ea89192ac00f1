"""Creating tickets and loading them for a user.

`do_create_ticket` runs in the caller's transaction: when anything fails, the caller's
rollback undoes the ticket, its number, its history and its events together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import (
    AppContext,
    NotFound,
    Principal,
    Role,
    core_connection,
    find_users,
    insert_row,
    utcnow,
)
from ticketcloud import mail_out, ticket_events
from ticketcloud.attachments import AttachmentUpload, check_attachments, do_store_attachments
from ticketcloud.categories import access_category
from ticketcloud.checks import (
    check_body,
    check_choice,
    check_email,
    check_id,
    check_optional_id,
    check_person_name,
    check_subject,
)
from ticketcloud.history import new_ticket_history, write_waiting
from ticketcloud.models import (
    Attachment,
    Channel,
    HistoryEntry,
    Message,
    SlaTarget,
    Ticket,
    TicketCounter,
    Visibility,
)
from ticketcloud.routing import apply_decisions, assign_in_team
from ticketcloud.rule_store import load_rules
from ticketcloud.rules import TicketFacts, evaluate
from ticketcloud.sla import targets as sla_targets
from ticketcloud.status import Status

logger = logging.getLogger(__name__)

MAX_LIST = 200


@dataclass(frozen=True)
class CreatedTicket:
    """A ticket just created, with the rows written for it, so that the caller can show
    it without reading them back."""

    ticket: Ticket
    message: Message
    attachments: list[Attachment]
    history: list[HistoryEntry]
    sla_targets: list[SlaTarget]


async def do_create_ticket(
    context: AppContext, session: AsyncSession, *, tenant_id: int, subject: str, body: str,
    requester_email: str, requester_name: str, channel: str, category: int | None = None,
    attachments: Sequence[AttachmentUpload] = (), requester_user_id: int | None = None,
) -> Ticket:
    """Create a ticket with its first message, apply the tenant's rules, let the team
    pick an agent, and stage `ticketcloud.ticket.created` (plus `.assigned` when someone
    got it).

    `category` is a category id of the tenant, and `requester_user_id` the requester's
    user id when they are signed in. Raises InvalidInput for bad input and NotFound for
    an id the tenant does not have.
    """
    created = await do_create_ticket_with_rows(
        context, session, tenant_id=tenant_id, subject=subject, body=body,
        requester_email=requester_email, requester_name=requester_name, channel=channel,
        category=category, attachments=attachments, requester_user_id=requester_user_id)
    return created.ticket


async def do_create_ticket_with_rows(
    context: AppContext, session: AsyncSession, *, tenant_id: int, subject: str, body: str,
    requester_email: str, requester_name: str, channel: str, category: int | None = None,
    attachments: Sequence[AttachmentUpload] = (), requester_user_id: int | None = None,
) -> CreatedTicket:
    """`do_create_ticket`, returning the ticket with its message, attachments, history
    and SLA targets."""
    subject = check_subject(subject)
    body = check_body(body)
    requester_email = check_email(requester_email, field="requester_email")
    requester_name = check_person_name(requester_name, field="requester_name")
    checked_channel = check_choice(Channel, channel, field="channel")
    category_id = check_optional_id(category, field="category")
    uploads = check_attachments(attachments)

    number = await allocate_number(session, tenant_id)
    category_row = (await access_category(session, tenant_id, category_id)
                    if category_id is not None else None)
    if requester_user_id is not None:
        requester_user_id = await _check_requester(session, tenant_id, requester_user_id)

    # The timestamps are given rather than left to their default factories, which
    # pydantic inspects on every call.
    now = utcnow()
    ticket = Ticket(
        tenant_id=tenant_id, number=number, subject=subject, requester_email=requester_email,
        requester_name=requester_name, requester_user_id=requester_user_id,
        channel=checked_channel, category_id=category_id, tags=[], created_at=now,
        updated_at=now,
    )
    facts = TicketFacts(
        subject=subject, body=body, sender_email=requester_email, channel=checked_channel,
        priority=ticket.priority, category=category_row.name if category_row else "",
        customer=requester_email,
    )
    decisions = evaluate(await load_rules(session, tenant_id), facts)
    # The ticket is routed before it is written, so one INSERT carries the routing and
    # the same flush inserts its history in one batch. Without autoflush, the routing's
    # reads do not write anything before that.
    with session.no_autoflush:
        await apply_decisions(session, ticket, decisions)
        await assign_in_team(session, ticket)
    await insert_row(session, ticket)
    assert ticket.id is not None
    await write_waiting(session)
    history = new_ticket_history(session, ticket)
    message = Message(
        tenant_id=tenant_id, ticket_id=ticket.id, author_user_id=requester_user_id,
        author_email=requester_email, author_name=requester_name or requester_email,
        from_agent=False, visibility=Visibility.PUBLIC, body=body, created_at=ticket.created_at,
    )
    await insert_row(session, message)
    stored = await do_store_attachments(context, session, message, uploads)

    targets = await sla_targets.sync_targets(session, ticket, ticket.created_at, new=True)
    await ticket_events.publish_created(context, session, ticket)
    await mail_out.send_confirmation(context, session, ticket)
    logger.info("Created ticket %s (#%s) in tenant %s from %s: %s rules fired, team %s, "
                "assignee %s", ticket.id, number, tenant_id, checked_channel.value,
                len(decisions), ticket.team_id, ticket.assignee_id)
    return CreatedTicket(ticket=ticket, message=message, attachments=stored, history=history,
                         sla_targets=targets)


# Built once, because every new ticket runs it. A Core statement on the table, because
# an ORM-enabled one would flush the session first and cost several times as much.
_NEXT_NUMBER = (update(TicketCounter.__table__)  # type: ignore[attr-defined]
                .where(col(TicketCounter.tenant_id) == bindparam("tenant"))
                .values(last_number=TicketCounter.last_number + 1)
                .returning(col(TicketCounter.last_number)))


async def allocate_number(session: AsyncSession, tenant_id: int) -> int:
    """Return the tenant's next ticket number. The counter row is updated in the caller's
    transaction, so a rollback gives the number back."""
    connection = await core_connection(session)
    number = (await connection.execute(_NEXT_NUMBER, {"tenant": tenant_id})).scalar_one_or_none()
    if number is None:
        # Installing the app creates the row; a workspace whose row is missing gets it
        # here. Two transactions may both miss it on PostgreSQL, so the INSERT yields to
        # one that committed first, and the UPDATE then waits for its row lock.
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        await session.exec(dialect.insert(TicketCounter)
                           .values(tenant_id=tenant_id, last_number=0)
                           .on_conflict_do_nothing(index_elements=["tenant_id"]))
        number = (await connection.execute(_NEXT_NUMBER, {"tenant": tenant_id})).scalar_one()
    return int(number)


async def access_ticket(session: AsyncSession, tenant_id: int, number: object,
                        principal: Principal) -> Ticket:
    """Load ticket `number` of the tenant for `principal`. Agents and admins of the tenant
    see every ticket, a customer only the tickets they requested (by user id or email).
    Any other ticket is not found, so a number never reveals that the ticket exists."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise NotFound(f"Ticket {number!r} not found.", field="ticket")
    ticket = (await session.exec(select(Ticket).where(
        Ticket.tenant_id == tenant_id, Ticket.number == number))).first()
    if ticket is None or principal.tenant_id != tenant_id or not can_see(principal, ticket):
        raise NotFound(f"Ticket #{number} not found.", field="ticket")
    return ticket


def can_see(principal: Principal, ticket: Ticket) -> bool:
    if principal.role is not Role.CUSTOMER:
        return True
    return (ticket.requester_user_id == principal.user_id
            or ticket.requester_email == principal.email.strip().lower())


async def list_tickets(
    session: AsyncSession, tenant_id: int, *, statuses: Sequence[Status] | None = None,
    team_id: int | None = None, assignee_id: int | None = None, limit: int = 50,
) -> list[Ticket]:
    """Return the tenant's tickets for an agent's queue, newest first."""
    statement = select(Ticket).where(Ticket.tenant_id == tenant_id)
    if statuses is not None:
        statement = statement.where(col(Ticket.status).in_(list(statuses)))
    if team_id is not None:
        statement = statement.where(Ticket.team_id == team_id)
    if assignee_id is not None:
        statement = statement.where(Ticket.assignee_id == assignee_id)
    statement = statement.order_by(col(Ticket.number).desc()).limit(_page_size(limit))
    return list((await session.exec(statement)).all())


async def list_customer_tickets(session: AsyncSession, principal: Principal,
                                *, limit: int = 50) -> list[Ticket]:
    """Return the tickets a customer requested, newest first."""
    statement = (select(Ticket)
                 .where(Ticket.tenant_id == principal.tenant_id,
                        (col(Ticket.requester_user_id) == principal.user_id)
                        | (col(Ticket.requester_email) == principal.email.strip().lower()))
                 .order_by(col(Ticket.number).desc()).limit(_page_size(limit)))
    return list((await session.exec(statement)).all())


async def ticket_messages(session: AsyncSession, ticket: Ticket, *,
                          include_internal: bool) -> list[Message]:
    """Return the ticket's messages, oldest first; internal notes only when asked."""
    statement = select(Message).where(Message.tenant_id == ticket.tenant_id,
                                      Message.ticket_id == ticket.id)
    if not include_internal:
        statement = statement.where(Message.visibility == Visibility.PUBLIC)
    return list((await session.exec(statement.order_by(col(Message.id)))).all())


def _page_size(limit: int) -> int:
    return max(1, min(limit, MAX_LIST))


async def _check_requester(session: AsyncSession, tenant_id: int, user_id: object) -> int:
    checked = check_id(user_id, field="requester_user_id")
    if not await find_users(session, tenant_id, ids=[checked]):
        raise NotFound(f"User {checked} not found in this workspace.", field="requester_user_id")
    return checked
