"""TicketCloud's cached configuration: a change of rules, SLA policies or mail templates
made through another engine on the same database (as another portal process makes it)
applies to the very next ticket of this process, and only in its workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from portal.db import Database
from portal.mail.outbox import OutboxMessage
from portal.sdk import AppContext
from tests.apps.ticketcloud.conftest import Workspace, create_ticket
from ticketcloud.mail_templates import do_reset_template, do_set_template
from ticketcloud.models import MailTemplateKind, Ticket
from ticketcloud.rule_store import do_create_rule, do_update_rule
from ticketcloud.sla.policies import do_create_policy
from ticketcloud.sla.targets import ticket_targets

TAG_RULE = {"name": "Tag invoices", "conditions": [
    {"field": "subject", "operator": "contains", "value": "invoice"}],
    "actions": [{"type": "add_tags", "value": ["billing"]}]}


@pytest.fixture
async def other_process(db: Database) -> AsyncIterator[Database]:
    """A second engine on the test's database, as another portal process has."""
    other = Database(db.url)
    yield other
    await other.dispose()


async def invoice_ticket(context: AppContext, workspace: Workspace) -> Ticket:
    return await create_ticket(context, workspace, subject="Invoice 42 is wrong")


async def test_rule_change_applies_next_ticket(
        db: Database, context: AppContext, workspace: Workspace,
        other_workspace: Workspace, other_process: Database) -> None:
    assert (await invoice_ticket(context, workspace)).tags == []
    assert (await invoice_ticket(context, other_workspace)).tags == []

    async with other_process.transaction() as session:
        rule = await do_create_rule(session, workspace.tenant_id, TAG_RULE)
    tagged = await invoice_ticket(context, workspace)
    untouched = await invoice_ticket(context, other_workspace)
    async with other_process.transaction() as session:
        await do_update_rule(session, workspace.tenant_id, rule.id,
                             {**TAG_RULE, "enabled": False})
    after_disabling = await invoice_ticket(context, workspace)

    assert tagged.tags == ["billing"]
    assert untouched.tags == []
    assert after_disabling.tags == []


async def test_rule_deleted_by_sql_stops(
        db: Database, context: AppContext, workspace: Workspace,
        other_process: Database) -> None:
    async with db.transaction() as session:
        await do_create_rule(session, workspace.tenant_id, TAG_RULE)
    assert (await invoice_ticket(context, workspace)).tags == ["billing"]

    async with other_process.transaction() as session:
        await (await session.connection()).execute(
            text("DELETE FROM ticketcloud_rule WHERE tenant_id = :tenant"),
            {"tenant": workspace.tenant_id})

    assert (await invoice_ticket(context, workspace)).tags == []


async def test_sla_policy_applies_next_ticket(
        db: Database, context: AppContext, workspace: Workspace,
        other_process: Database) -> None:
    before = await invoice_ticket(context, workspace)

    async with other_process.transaction() as session:
        await do_create_policy(session, workspace.tenant_id, {
            "name": "Everything", "first_response_minutes": 60})
    after = await invoice_ticket(context, workspace)

    async with db.read() as session:
        assert await ticket_targets(session, before) == []
        kinds = [target.kind.value for target in await ticket_targets(session, after)]
    assert kinds == ["first_response"]


async def confirmation_subjects(db: Database) -> list[str]:
    async with db.read() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(
            col(OutboxMessage.id)))).all()
    return [str(BytesParser(policy=policy.default).parsebytes(row.content)["Subject"])
            for row in rows]


async def test_template_change_applies_next_mail(
        db: Database, context: AppContext, workspace: Workspace,
        other_process: Database) -> None:
    first = await invoice_ticket(context, workspace)
    async with other_process.transaction() as session:
        await do_set_template(session, workspace.tenant_id, MailTemplateKind.CONFIRMATION,
                              {"subject": "Got it: {{ subject }}", "text": "Thanks."},
                              user_id=None)
    second = await invoice_ticket(context, workspace)
    async with other_process.transaction() as session:
        await do_reset_template(session, workspace.tenant_id, MailTemplateKind.CONFIRMATION)
    third = await invoice_ticket(context, workspace)

    assert await confirmation_subjects(db) == [
        f"[#{first.number}] Invoice 42 is wrong",
        f"[#{second.number}] Got it: Invoice 42 is wrong",
        f"[#{third.number}] Invoice 42 is wrong",
    ]
