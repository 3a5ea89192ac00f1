"""Sample data for the demo workspace: teams, categories, routing rules and tickets that
the rules route, so that queues, history and notifications have something to show."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, Role, find_users
from ticketcloud.categories import do_create_category
from ticketcloud.conversation import Author, do_reply
from ticketcloud.mail_in import do_set_support_address
from ticketcloud.models import Channel, Visibility
from ticketcloud.rule_store import do_create_rule
from ticketcloud.settings import do_update_settings
from ticketcloud.sla.calendars import do_create_calendar
from ticketcloud.sla.policies import do_create_policy
from ticketcloud.teams import do_add_member, do_create_team
from ticketcloud.tickets import do_create_ticket

logger = logging.getLogger(__name__)

BILLING_AGENT = "billing.agent@demo.example"
TECH_AGENT = "tech.agent@demo.example"
CUSTOMER = "customer@demo.example"
# Mail to this address over the portal's SMTP listener becomes a ticket.
SUPPORT_ADDRESS = "support@demo.localhost"
BILLING_WORDS = r"\b(invoice|refund|charge|payment|billing)"
TECHNICAL_WORDS = r"\b(error|crash|bug|login|password|install)"
OFFICE_HOURS = {day: [["09:00", "12:30"], ["13:30", "17:30"]]
                for day in ("mon", "tue", "wed", "thu", "fri")}

# (subject, body, channel, category chosen by the customer); the rules pick the
# category of the first two.
SAMPLE_TICKETS = (
    ("Refund for a double charge", "My card was charged twice for the March invoice. "
     "Could you refund one of the payments?", Channel.WEB, None),
    ("Login error after the update", "Since yesterday's update I get an error when I sign "
     "in, even after resetting my password.", Channel.EMAIL, None),
    ("Opening hours over the holidays", "Are you open between Christmas and New Year?",
     Channel.WEB, "General"),
)


async def seed_demo(context: AppContext, session: AsyncSession, tenant_id: int) -> None:
    """Fill the demo workspace; the portal calls this once, right after installing."""
    await do_update_settings(session, tenant_id, auto_close_hours=72, expose_category=True)
    await do_set_support_address(session, tenant_id, SUPPORT_ADDRESS)
    categories = {name: await do_create_category(session, tenant_id, name=name)
                  for name in ("Billing", "Technical", "General")}
    billing = await do_create_team(session, tenant_id, name="Billing")
    technical = await do_create_team(session, tenant_id, name="Technical")
    assert billing.id is not None and technical.id is not None

    agents = {user.email: user for user in await find_users(
        session, tenant_id, emails=[BILLING_AGENT, TECH_AGENT], roles=[Role.AGENT])}
    for email, team_id in ((BILLING_AGENT, billing.id), (TECH_AGENT, technical.id)):
        if email in agents:
            await do_add_member(session, tenant_id, team_id, agents[email].id, is_lead=True)
        else:
            logger.warning("Demo agent %s is missing in tenant %s; team %s has no member",
                           email, tenant_id, team_id)

    for name, words, team_id, category in (
            ("Billing words", BILLING_WORDS, billing.id, categories["Billing"]),
            ("Technical words", TECHNICAL_WORDS, technical.id, categories["Technical"])):
        await do_create_rule(session, tenant_id, {
            "name": name, "match": "any",
            "conditions": [{"field": "subject", "operator": "regex", "value": words},
                           {"field": "body", "operator": "regex", "value": words}],
            "actions": [{"type": "set_team", "value": team_id},
                        {"type": "set_category", "value": category.id},
                        {"type": "add_tags", "value": [name.split()[0].lower()]}],
        })

    await _seed_sla(session, tenant_id)
    tickets = []
    for subject, body, channel, category_name in SAMPLE_TICKETS:
        category_id = categories[category_name].id if category_name else None
        tickets.append(await do_create_ticket(
            context, session, tenant_id=tenant_id, subject=subject, body=body,
            requester_email=CUSTOMER, requester_name="Casey Customer", channel=channel.value,
            category=category_id))
    if BILLING_AGENT in agents:
        await do_reply(context, session, tickets[0], author=Author.of_user(agents[BILLING_AGENT]),
                       visibility=Visibility.INTERNAL.value,
                       body="Both charges show in the payment log; refund the second one.")
    logger.info("Seeded TicketCloud demo data in tenant %s: %s tickets", tenant_id,
                len(tickets))


async def _seed_sla(session: AsyncSession, tenant_id: int) -> None:
    """Add an office-hours calendar and two policies, so the sample tickets show due-time
    badges: urgent work on the clock around the clock, the rest in office hours."""
    office = await do_create_calendar(session, tenant_id, {
        "name": "Office hours", "time_zone": "Europe/Berlin", "hours": OFFICE_HOURS})
    await do_create_policy(session, tenant_id, {
        "name": "Urgent around the clock", "conditions": {"priorities": ["high", "urgent"]},
        "first_response_minutes": 30, "resolution_minutes": 240, "warning_percent": 75,
        "escalation": [{"action": "raise_priority"}]})
    await do_create_policy(session, tenant_id, {
        "name": "Standard in office hours", "calendar_id": office.id,
        "first_response_minutes": 240, "next_response_minutes": 480,
        "resolution_minutes": 2400, "warning_percent": 75})
