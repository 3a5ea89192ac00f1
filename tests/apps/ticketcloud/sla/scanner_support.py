"""Helpers shared by the scanner and escalation tests: a round-the-clock policy, tickets
with an assignee, and a second AppContext on the same database file."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from portal.db import Database
from portal.events.bus import InProcessBus
from portal.events.model import Event
from portal.registry.discovery import folder_sources
from portal.registry.registry import AppRegistry
from portal.sdk import AppContext
from tests.apps.ticketcloud.conftest import APPS_DIR, Workspace, create_ticket
from ticketcloud.models import SlaTarget, Ticket
from ticketcloud.sla.policies import do_create_policy
from ticketcloud.sla.targets import ticket_targets

SLA_TOPICS = ("ticketcloud.sla.warning", "ticketcloud.sla.breached")


async def add_round_the_clock_policy(db: Database, workspace: Workspace,
                                     **fields: Any) -> int:
    """Add a policy on the 24/7 calendar: first response in 10 minutes, warning at 50 %."""
    data: dict[str, Any] = {"name": "Round the clock", "first_response_minutes": 10,
                            "warning_percent": 50, **fields}
    async with db.transaction() as session:
        policy = await do_create_policy(session, workspace.tenant_id, data)
    assert policy.id is not None
    return policy.id


async def assigned_ticket(context: AppContext, workspace: Workspace, *,
                          subject: str = "Printer on fire", agent: int = 0) -> Ticket:
    """Create a ticket and assign it to agent number `agent` directly."""
    ticket = await create_ticket(context, workspace, subject=subject)
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        loaded.assignee_id = workspace.agent_id(agent)
        session.add(loaded)
    return loaded


async def first_target(db: Database, ticket: Ticket) -> SlaTarget:
    async with db.read() as session:
        targets = await ticket_targets(session, ticket)
    return targets[0]


def sla_events(events: list[Event]) -> list[Event]:
    return [event for event in events if event.topic in SLA_TOPICS]


@asynccontextmanager
async def second_context(db: Database, data_dir: Path,
                         published: list[Event]) -> AsyncIterator[AppContext]:
    """Yield TicketCloud's context as another portal process (or the same one after a
    restart) builds it: its own engine and bus on the same database file."""
    database = Database(db.url)
    bus = InProcessBus()
    bus.subscribe(published.append)
    saved_path = list(sys.path)
    try:
        registry = AppRegistry(db=database, bus=bus, data_dir=data_dir,
                               secret_key="test secret")
        registry.load(folder_sources(APPS_DIR))
        yield registry.apps["ticketcloud"].context
    finally:
        sys.path[:] = saved_path
        await database.dispose()
