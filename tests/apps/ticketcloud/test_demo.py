"""The demo seed: teams, categories and rules that route the sample tickets."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from portal.db import Database
from portal.demo import DEMO_USERS
from portal.events.model import Event
from portal.sdk import AppContext, find_users
from portal.tenants import do_create_tenant, do_create_user
from tests.apps.ticketcloud.conftest import topics
from ticketcloud.backend import backend
from ticketcloud.categories import list_categories
from ticketcloud.models import Message, SlaTarget, Ticket, Visibility
from ticketcloud.rule_store import list_rules
from ticketcloud.sla.policies import list_policies
from ticketcloud.teams import list_teams


@pytest.fixture
async def demo_tenant(db: Database) -> int:
    async with db.transaction() as session:
        tenant = await do_create_tenant(session, slug="demo", name="Demo Company")
        assert tenant.id is not None
        for email, name, role in DEMO_USERS:
            await do_create_user(session, tenant_id=tenant.id, email=email, name=name,
                                 role=role.value, password=None)
    return tenant.id


async def test_seed_demo_routes_sample_tickets(
        context: AppContext, db: Database, demo_tenant: int, published: list[Event]) -> None:
    assert backend.seed_demo is not None
    async with context.transaction() as session:
        await backend.seed_demo(context, session, demo_tenant)

    async with db.read() as session:
        teams = {team.id: team.name for team in await list_teams(session, demo_tenant)}
        categories = {item.id: item.name for item in await list_categories(session, demo_tenant)}
        rules = [rule.name for rule in await list_rules(session, demo_tenant)]
        users = {user.email: user.id for user in await find_users(session, demo_tenant)}
        tickets = (await session.exec(select(Ticket).where(Ticket.tenant_id == demo_tenant)
                                      .order_by(col(Ticket.number)))).all()
        notes = (await session.exec(select(Message).where(
            Message.visibility == Visibility.INTERNAL))).all()

    assert sorted(teams.values()) == ["Billing", "Technical"]
    assert sorted(categories.values()) == ["Billing", "General", "Technical"]
    assert rules == ["Billing words", "Technical words"]
    routed = [(ticket.subject, teams.get(ticket.team_id), categories.get(ticket.category_id),
               ticket.assignee_id, ticket.tags) for ticket in tickets]
    assert routed == [
        ("Refund for a double charge", "Billing", "Billing",
         users["billing.agent@demo.example"], ["billing"]),
        ("Login error after the update", "Technical", "Technical",
         users["tech.agent@demo.example"], ["technical"]),
        ("Opening hours over the holidays", None, "General", None, []),
    ]
    assert len(notes) == 1
    assert topics(published).count("ticketcloud.ticket.assigned") == 2


async def test_seed_demo_gives_tickets_due_times(
        context: AppContext, db: Database, demo_tenant: int) -> None:
    assert backend.seed_demo is not None
    async with context.transaction() as session:
        await backend.seed_demo(context, session, demo_tenant)

    async with db.read() as session:
        policies = [policy.name for policy in await list_policies(session, demo_tenant)]
        targets = (await session.exec(select(SlaTarget).where(
            SlaTarget.tenant_id == demo_tenant))).all()

    assert policies == ["Urgent around the clock", "Standard in office hours"]
    assert {target.ticket_id for target in targets if target.due_at is not None} == {
        target.ticket_id for target in targets}
    assert len({target.ticket_id for target in targets}) == 3
