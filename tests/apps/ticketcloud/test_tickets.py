"""Creating tickets (numbering, rules, assignment, history, events, atomicity) and loading
them for agents and customers."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import delete
from sqlmodel import col, select

from portal.db import Database
from portal.events.model import Event
from portal.models import Role
from portal.sdk import AppContext, InvalidInput, NotFound
from tests.apps.ticketcloud.conftest import (
    Rollback,
    Workspace,
    add_rule,
    add_team,
    count_rows,
    create_ticket,
    history_of,
    last_number,
    topics,
)
from ticketcloud.attachments import AttachmentUpload
from ticketcloud.categories import do_create_category
from ticketcloud.models import (
    Attachment,
    Channel,
    HistoryEntry,
    MatchMode,
    Message,
    Rule,
    Ticket,
    TicketCounter,
    Visibility,
)
from ticketcloud.rule_store import do_create_rule
from ticketcloud.status import Status
from ticketcloud.tickets import access_ticket, do_create_ticket, list_customer_tickets

BILLING_RULE = {
    "name": "Billing words", "match": "any",
    "conditions": [{"field": "subject", "operator": "regex",
                    "value": r"\b(invoice|refund|charge|payment|billing)"},
                   {"field": "body", "operator": "regex",
                    "value": r"\b(invoice|refund|charge|payment|billing)"}],
}


async def create_category(db: Database, workspace: Workspace, name: str) -> int:
    async with db.transaction() as session:
        category = await do_create_category(session, workspace.tenant_id, name=name)
    assert category.id is not None
    return category.id


async def test_create_ticket_numbers_per_tenant(
        context: AppContext, workspace: Workspace, other_workspace: Workspace) -> None:
    first = await create_ticket(context, workspace)
    second = await create_ticket(context, workspace)
    elsewhere = await create_ticket(context, other_workspace)

    assert (first.number, second.number) == (1, 2)
    assert elsewhere.number == 1


async def test_create_ticket_missing_counter_concurrent(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    """A workspace without its counter row gets one: tickets created at once take the
    numbers 1 to 4, each once (on PostgreSQL they meet at the INSERT of the row)."""
    async with db.transaction() as session:
        await session.exec(delete(TicketCounter).where(
            col(TicketCounter.tenant_id) == workspace.tenant_id))

    tickets = await asyncio.gather(*(create_ticket(context, workspace) for _ in range(4)))

    assert sorted(ticket.number for ticket in tickets) == [1, 2, 3, 4]
    assert await last_number(db, workspace.tenant_id) == 4


async def test_create_ticket_stores_first_message(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace, subject="  Printer\non fire ",
                                 requester_email="Cal@Example.COM", channel="email")

    async with db.read() as session:
        messages = (await session.exec(select(Message).where(
            Message.ticket_id == ticket.id))).all()
    assert ticket.subject == "Printer on fire"
    assert ticket.requester_email == "cal@example.com"
    assert ticket.channel is Channel.EMAIL
    assert ticket.status is Status.NEW
    assert ticket.version == 1
    assert len(messages) == 1
    assert messages[0].visibility is Visibility.PUBLIC
    assert messages[0].author_email == "cal@example.com"
    assert not messages[0].from_agent
    assert messages[0].body == "The office printer smokes when printing."


async def test_create_ticket_publishes_after_commit(
        context: AppContext, workspace: Workspace, published: list[Event]) -> None:
    async with context.transaction() as session:
        ticket = await do_create_ticket(
            context, session, tenant_id=workspace.tenant_id, subject="Hello", body="Text",
            requester_email=workspace.customer.email, requester_name="", channel="web")
        published_before_commit = list(published)

    assert published_before_commit == []
    assert topics(published) == ["ticketcloud.ticket.created"]
    created = published[0]
    assert created.tenant_id == workspace.tenant_id
    assert created.audience.roles == {Role.ADMIN, Role.AGENT}
    assert created.audience.users == frozenset()
    assert created.payload["number"] == ticket.number
    assert created.payload["subject"] == "Hello"
    assert created.notification is None


async def test_create_ticket_rolled_back_publishes_nothing(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    with pytest.raises(Rollback):
        async with context.transaction() as session:
            await do_create_ticket(
                context, session, tenant_id=workspace.tenant_id, subject="Hello", body="Text",
                requester_email=workspace.customer.email, requester_name="", channel="web")
            raise Rollback

    assert published == []
    async with db.read() as session:
        assert await count_rows(session, Ticket, workspace.tenant_id) == 0


async def test_create_ticket_rule_routes_and_assigns(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    billing = await add_team(db, workspace, "Billing", members=[workspace.agent_id(0)])
    category_id = await create_category(db, workspace, "Billing")
    rule_id = await add_rule(db, workspace, {**BILLING_RULE, "actions": [
        {"type": "set_team", "value": billing.id},
        {"type": "set_category", "value": category_id},
        {"type": "set_priority", "value": "high"},
        {"type": "add_tags", "value": ["billing"]}]})

    ticket = await create_ticket(context, workspace, subject="Refund please",
                                 body="I paid twice.")

    assert ticket.team_id == billing.id
    assert ticket.category_id == category_id
    assert ticket.assignee_id == workspace.agent_id(0)
    assert ticket.tags == ["billing"]
    assert ticket.priority.value == "high"
    history = await history_of(db, ticket)
    assert [(entry.field, entry.old_value, entry.new_value) for entry in history] == [
        ("team", None, "Billing"), ("category", None, "Billing"), ("priority", "normal", "high"),
        ("tags", None, "billing"), ("assignee", None, "Agent 0")]
    assert [entry.reason for entry in history[:4]] == [
        "Rule 'Billing words' set team to Billing",
        "Rule 'Billing words' set category to Billing",
        "Rule 'Billing words' set priority to high",
        "Rule 'Billing words' added the tags billing"]
    assert all(entry.rule_id == rule_id for entry in history[:4])
    assert all(entry.rule_name == "Billing words" for entry in history[:4])
    assert history[4].rule_id is None
    assert history[4].reason == "Round robin in team Billing picked Agent 0"
    assert all(entry.actor_user_id is None for entry in history)


async def test_create_ticket_assignment_notifies_assignee(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    billing = await add_team(db, workspace, "Billing", members=[workspace.agent_id(1)])
    await add_rule(db, workspace, {**BILLING_RULE,
                                   "actions": [{"type": "set_team", "value": billing.id}]})

    ticket = await create_ticket(context, workspace, subject="Invoice is wrong")

    assert topics(published) == ["ticketcloud.ticket.created", "ticketcloud.ticket.assigned"]
    assigned = published[1]
    assert assigned.audience.users == {workspace.agent_id(1)}
    assert assigned.audience.roles == frozenset()
    assert assigned.payload["assignee_id"] == workspace.agent_id(1)
    assert assigned.notification == {
        "title": f"Ticket #{ticket.number} assigned to you", "body": "Invoice is wrong",
        "open": {"app": "ticketcloud", "window": "ticket",
                 "params": {"ticket": str(ticket.number)}}}


async def test_create_ticket_without_rule_match_stays_unrouted(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    billing = await add_team(db, workspace, "Billing", members=[workspace.agent_id(0)])
    await add_rule(db, workspace, {**BILLING_RULE,
                                   "actions": [{"type": "set_team", "value": billing.id}]})

    ticket = await create_ticket(context, workspace, subject="Opening hours",
                                 body="When are you open?")

    assert ticket.team_id is None
    assert ticket.assignee_id is None
    assert await history_of(db, ticket) == []
    assert topics(published) == ["ticketcloud.ticket.created"]


async def test_create_ticket_rule_assignee_skips_team_pick(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    billing = await add_team(db, workspace, "Billing", members=[workspace.agent_id(0)])
    await add_rule(db, workspace, {**BILLING_RULE, "actions": [
        {"type": "set_team", "value": billing.id},
        {"type": "set_assignee", "value": workspace.agent_id(2)}]})

    ticket = await create_ticket(context, workspace, subject="Refund")

    assert ticket.assignee_id == workspace.agent_id(2)
    reasons = [entry.reason for entry in await history_of(db, ticket)]
    assert reasons == ["Rule 'Billing words' set team to Billing",
                       "Rule 'Billing words' set assignee to Agent 2"]


async def test_create_ticket_stale_rule_target_skipped(
        context: AppContext, db: Database, workspace: Workspace,
        caplog: pytest.LogCaptureFixture) -> None:
    # Written directly: saving through do_create_rule rejects the unknown team.
    async with db.transaction() as session:
        session.add(Rule(tenant_id=workspace.tenant_id, position=0, name="Gone team",
                         match=MatchMode.ANY, conditions=BILLING_RULE["conditions"],
                         actions=[{"type": "set_team", "value": 9999},
                                  {"type": "add_tags", "value": ["billing"]}]))

    with caplog.at_level(logging.WARNING, logger="ticketcloud.routing"):
        ticket = await create_ticket(context, workspace, subject="Refund")

    assert ticket.team_id is None
    assert ticket.tags == ["billing"]
    assert any("skipped set_team" in record.getMessage() for record in caplog.records)


async def test_create_ticket_error_after_number_leaves_nothing(
        context: AppContext, db: Database, workspace: Workspace,
        other_workspace: Workspace, published: list[Event]) -> None:
    await create_ticket(context, workspace)
    published.clear()
    foreign_category = await create_category(db, other_workspace, "Billing")
    upload = AttachmentUpload("log.txt", "text/plain", b"trace")

    with pytest.raises(NotFound) as raised:
        await create_ticket(context, workspace, category=foreign_category,
                            attachments=(upload,))

    assert raised.value.message == f"Category {foreign_category} not found."
    assert await last_number(db, workspace.tenant_id) == 1
    async with db.read() as session:
        assert await count_rows(session, Ticket, workspace.tenant_id) == 1
        assert await count_rows(session, Message, workspace.tenant_id) == 1
        assert await count_rows(session, Attachment, workspace.tenant_id) == 0
        assert await count_rows(session, HistoryEntry, workspace.tenant_id) == 0
    assert published == []
    assert list(context.app_data_dir(workspace.tenant_id).iterdir()) == []


async def test_create_ticket_rollback_deletes_attachment_files(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    folder = context.app_data_dir(workspace.tenant_id)
    written: list[str] = []

    with pytest.raises(Rollback):
        async with context.transaction() as session:
            await do_create_ticket(
                context, session, tenant_id=workspace.tenant_id, subject="Hello", body="Text",
                requester_email=workspace.customer.email, requester_name="", channel="web",
                attachments=[AttachmentUpload("log.txt", "text/plain", b"trace")])
            written.extend(path.name for path in folder.iterdir())
            raise Rollback

    assert len(written) == 1
    assert list(folder.iterdir()) == []
    async with db.read() as session:
        assert await count_rows(session, Attachment, workspace.tenant_id) == 0


async def test_create_ticket_stores_attachments(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    uploads = (AttachmentUpload("../../etc/passwd", "text/plain; charset=utf-8", b"root"),
               AttachmentUpload("photo.png", "not a type", b"\x89PNG"))

    ticket = await create_ticket(context, workspace, attachments=uploads)

    async with db.read() as session:
        rows = (await session.exec(select(Attachment).order_by(Attachment.id))).all()
    assert [(row.filename, row.content_type, row.size) for row in rows] == [
        ("_.._etc_passwd", "text/plain", 4), ("photo.png", "application/octet-stream", 4)]
    folder = context.app_data_dir(workspace.tenant_id)
    assert (folder / rows[0].stored_name).read_bytes() == b"root"
    assert (folder / rows[1].stored_name).read_bytes() == b"\x89PNG"
    assert rows[0].stored_name != rows[1].stored_name
    assert ticket.id is not None


@pytest.mark.parametrize(("overrides", "field"), [
    ({"subject": " \n "}, "subject"),
    ({"subject": "x" * 201}, "subject"),
    ({"body": "  "}, "body"),
    ({"body": "x" * 50_001}, "body"),
    ({"requester_email": "not-an-address"}, "requester_email"),
    ({"requester_email": "a@b"}, "requester_email"),
    ({"requester_name": "n" * 201}, "requester_name"),
    ({"channel": "fax"}, "channel"),
    ({"category": 0}, "category"),
    ({"attachments": tuple(AttachmentUpload(f"{index}.txt", "text/plain", b"x")
                           for index in range(11))}, "attachments"),
])
async def test_create_ticket_rejects_invalid_input(
        context: AppContext, db: Database, workspace: Workspace, published: list[Event],
        overrides: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {
        "subject": "Hello", "body": "Text", "requester_email": workspace.customer.email,
        "requester_name": "Cal", "channel": "web"}
    arguments.update(overrides)

    with pytest.raises(InvalidInput) as raised:
        async with context.transaction() as session:
            await do_create_ticket(context, session, tenant_id=workspace.tenant_id,
                                   **arguments)  # type: ignore[arg-type]

    assert raised.value.field == field
    assert await last_number(db, workspace.tenant_id) is None
    assert published == []


async def test_create_ticket_accepts_maximum_sizes(
        context: AppContext, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace, subject="s" * 200, body="b" * 50_000)

    assert len(ticket.subject) == 200


async def test_create_ticket_requester_of_other_tenant(
        context: AppContext, db: Database, workspace: Workspace,
        other_workspace: Workspace) -> None:
    with pytest.raises(NotFound):
        await create_ticket(context, workspace,
                            requester_user_id=other_workspace.customer.id)

    assert await last_number(db, workspace.tenant_id) is None


async def test_create_rule_with_other_tenants_team(
        db: Database, workspace: Workspace, other_workspace: Workspace) -> None:
    foreign = await add_team(db, other_workspace, "Billing", members=[])

    with pytest.raises(NotFound):
        async with db.transaction() as session:
            await do_create_rule(session, workspace.tenant_id, {
                **BILLING_RULE, "actions": [{"type": "set_team", "value": foreign.id}]})


async def test_access_ticket_agent_sees_every_ticket(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)

    async with db.read() as session:
        for user in (workspace.admin, workspace.agents[2]):
            loaded = await access_ticket(session, workspace.tenant_id, ticket.number,
                                         workspace.principal(user))
            assert loaded.id == ticket.id


async def test_access_ticket_customer_by_email_or_user_id(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    by_email = await create_ticket(context, workspace,
                                   requester_email=workspace.customer.email.upper())
    by_user = await create_ticket(context, workspace, requester_email="alias@elsewhere.test",
                                  requester_user_id=workspace.customer.id)
    customer = workspace.principal(workspace.customer)

    async with db.read() as session:
        first = await access_ticket(session, workspace.tenant_id, by_email.number, customer)
        second = await access_ticket(session, workspace.tenant_id, by_user.number, customer)
        listed = await list_customer_tickets(session, customer)

    assert first.id == by_email.id
    assert second.id == by_user.id
    assert [ticket.number for ticket in listed] == [by_user.number, by_email.number]


async def test_access_ticket_other_customer_not_found(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)

    async with db.read() as session:
        with pytest.raises(NotFound) as raised:
            await access_ticket(session, workspace.tenant_id, ticket.number,
                                workspace.principal(workspace.other_customer))
        listed = await list_customer_tickets(session,
                                             workspace.principal(workspace.other_customer))

    assert raised.value.message == f"Ticket #{ticket.number} not found."
    assert listed == []


async def test_access_ticket_other_tenant_not_found(
        context: AppContext, db: Database, workspace: Workspace,
        other_workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)
    await create_ticket(context, other_workspace)

    async with db.read() as session:
        with pytest.raises(NotFound):
            await access_ticket(session, workspace.tenant_id, ticket.number,
                                other_workspace.principal(other_workspace.admin))


@pytest.mark.parametrize("number", [99, 0, -1, "1", True])
async def test_access_ticket_unknown_number(
        context: AppContext, db: Database, workspace: Workspace, number: object) -> None:
    await create_ticket(context, workspace)

    async with db.read() as session:
        with pytest.raises(NotFound):
            await access_ticket(session, workspace.tenant_id, number,
                                workspace.principal(workspace.admin))
