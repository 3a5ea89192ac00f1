"""The events TicketCloud publishes; manifest.json declares each topic and its payload.

Every function stages the event in the caller's transaction, so desktops receive it
only after that transaction commits. Events go to agents and admins, except
`ticketcloud.ticket.assigned`, which goes to the assignee alone with a toast.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, Audience, Event, EventDraft, Notification
from ticketcloud import sync_out
from ticketcloud.models import Message, Rating, Ticket
from ticketcloud.teams import AGENT_ROLES

CREATED = "ticketcloud.ticket.created"
ASSIGNED = "ticketcloud.ticket.assigned"
UPDATED = "ticketcloud.ticket.updated"
SOLVED = "ticketcloud.ticket.solved"
REPLIED = "ticketcloud.ticket.replied"
RATED = "ticketcloud.ticket.rated"

# A change as published: the field's raw old and new values (ids, not names).
Changes = dict[str, dict[str, Any]]


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    """Return the fields of a ticket that every TicketCloud event carries."""
    return {
        "number": ticket.number, "subject": ticket.subject, "status": ticket.status.value,
        "priority": ticket.priority.value, "channel": ticket.channel.value,
        "category_id": ticket.category_id, "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id, "version": ticket.version,
    }


async def publish_created(context: AppContext, session: AsyncSession,
                          ticket: Ticket) -> list[Event]:
    """Tell agents about a new ticket and, when it got an assignee, the assignee too (as
    `publish_assigned` does), in one staging."""
    await sync_out.stage_ticket_change(context, session, ticket)
    drafts = [EventDraft(topic=CREATED, payload=ticket_summary(ticket),
                         audience=Audience.of(roles=AGENT_ROLES))]
    if ticket.assignee_id is not None:
        drafts.append(_assigned_draft(context, ticket))
    return await context.publish_all(session, tenant_id=ticket.tenant_id, drafts=drafts)


async def publish_assigned(context: AppContext, session: AsyncSession, ticket: Ticket) -> Event:
    """Tell the assignee, with a toast that opens the ticket's window."""
    await sync_out.stage_ticket_change(context, session, ticket)
    draft = _assigned_draft(context, ticket)
    return await context.publish(session, tenant_id=ticket.tenant_id, topic=draft.topic,
                                 payload=draft.payload, audience=draft.audience,
                                 notification=draft.notification)


def _assigned_draft(context: AppContext, ticket: Ticket) -> EventDraft:
    assert ticket.assignee_id is not None
    return EventDraft(
        topic=ASSIGNED, payload=ticket_summary(ticket),
        audience=Audience.of(users=[ticket.assignee_id]),
        notification=Notification(
            title=f"Ticket #{ticket.number} assigned to you", body=ticket.subject,
            open_app=context.app_id, open_window="ticket",
            open_params={"ticket": str(ticket.number)}),
    )


async def publish_updated(context: AppContext, session: AsyncSession, ticket: Ticket,
                          changes: Changes, *, actor_user_id: int | None) -> Event:
    payload = {**ticket_summary(ticket), "changes": changes, "actor_user_id": actor_user_id}
    return await _to_agents(context, session, ticket, UPDATED, payload)


async def publish_solved(context: AppContext, session: AsyncSession, ticket: Ticket) -> Event:
    return await _to_agents(context, session, ticket, SOLVED, ticket_summary(ticket))


async def publish_replied(context: AppContext, session: AsyncSession, ticket: Ticket,
                          message: Message) -> Event:
    payload = {**ticket_summary(ticket), "message_id": message.id,
               "visibility": message.visibility.value, "from_agent": message.from_agent}
    return await _to_agents(context, session, ticket, REPLIED, payload)


async def publish_rated(context: AppContext, session: AsyncSession, ticket: Ticket,
                        rating: Rating) -> Event:
    payload = {**ticket_summary(ticket), "score": rating.score, "agent_id": rating.agent_id,
               "team_id": rating.team_id}
    return await _to_agents(context, session, ticket, RATED, payload)


async def _to_agents(context: AppContext, session: AsyncSession, ticket: Ticket, topic: str,
                     payload: dict[str, Any]) -> Event:
    # Every ticket change publishes through here or publish_assigned, so this is where
    # a change also reaches the sync outbox, in the same transaction.
    await sync_out.stage_ticket_change(context, session, ticket)
    return await context.publish(session, tenant_id=ticket.tenant_id, topic=topic,
                                 payload=payload, audience=Audience.of(roles=AGENT_ROLES))
