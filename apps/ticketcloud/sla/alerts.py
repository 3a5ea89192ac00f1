"""The `ticketcloud.sla.warning` and `ticketcloud.sla.breached` events: their payload,
their audience and their toast.

An alert goes to the ticket's assignee and the leads of its team. An unassigned ticket's
alert goes to every member of its team, and a ticket without team or assignee alerts
every agent and admin, so that no target passes unseen.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, Audience, Event, Notification
from ticketcloud.models import SlaTarget, TeamMember, Ticket
from ticketcloud.sla.targets import target_json
from ticketcloud.teams import AGENT_ROLES
from ticketcloud.ticket_events import ticket_summary

KIND_LABELS = {"first_response": "First response", "next_response": "Next response",
               "resolution": "Resolution"}


class Alert(enum.StrEnum):
    WARNING = "ticketcloud.sla.warning"
    BREACHED = "ticketcloud.sla.breached"


class TeamDirectory:
    """The members and leads of the teams of a batch of tickets, loaded in one query."""

    def __init__(self) -> None:
        self.members: dict[int, set[int]] = {}
        self.leads: dict[int, set[int]] = {}
        self._loaded: set[int] = set()

    @classmethod
    async def load(cls, session: AsyncSession, tickets: Iterable[Ticket]) -> TeamDirectory:
        directory = cls()
        await directory.include(session, tickets)
        return directory

    async def include(self, session: AsyncSession, tickets: Iterable[Ticket]) -> None:
        """Load the teams of `tickets` not loaded yet, such as a team that escalation
        moved a ticket to."""
        team_ids = {ticket.team_id for ticket in tickets
                    if ticket.team_id is not None and ticket.team_id not in self._loaded}
        if not team_ids:
            return
        statement = select(TeamMember).where(col(TeamMember.team_id).in_(team_ids))
        for row in (await session.exec(statement)).all():
            self.members.setdefault(row.team_id, set()).add(row.user_id)
            if row.is_lead:
                self.leads.setdefault(row.team_id, set()).add(row.user_id)
        self._loaded |= team_ids

    def audience(self, ticket: Ticket) -> Audience:
        users: set[int] = set()
        if ticket.team_id is not None:
            users |= self.leads.get(ticket.team_id, set())
            if ticket.assignee_id is None:
                users |= self.members.get(ticket.team_id, set())
        if ticket.assignee_id is not None:
            users.add(ticket.assignee_id)
        if not users:
            return Audience.of(roles=AGENT_ROLES)
        return Audience.of(users=users)


async def publish_alert(context: AppContext, session: AsyncSession, alert: Alert,
                        ticket: Ticket, target: SlaTarget, teams: TeamDirectory, *,
                        escalation: dict[str, dict[str, Any]] | None = None) -> Event:
    """Stage one alert with a toast that opens the ticket. `escalation` lists the
    changes a breach made to the ticket (field to old and new)."""
    payload = {**ticket_summary(ticket), "target": target_json(target),
               "target_id": target.id}
    if alert is Alert.BREACHED:
        payload["escalation"] = escalation or {}
    return await context.publish(
        session, tenant_id=ticket.tenant_id, topic=alert.value, payload=payload,
        audience=teams.audience(ticket), notification=_toast(context, alert, ticket, target))


def _toast(context: AppContext, alert: Alert, ticket: Ticket,
           target: SlaTarget) -> Notification:
    # The shell inserts toast text with textContent, so a subject with markup shows
    # as text. check_subject already replaced control characters with spaces.
    label = KIND_LABELS[target.kind.value]
    if alert is Alert.BREACHED:
        title = f"SLA breached on ticket #{ticket.number}"
        body = f"{label} is overdue: {ticket.subject}"
    else:
        title = f"SLA warning on ticket #{ticket.number}"
        body = f"{label} is due soon: {ticket.subject}"
    return Notification(title=title, body=body, open_app=context.app_id,
                        open_window="ticket", open_params={"ticket": str(ticket.number)})
