"""Replies and internal notes: first response, reopening, closed tickets, and what a
customer's view leaves out."""

from __future__ import annotations

import pytest

from portal.db import Database
from portal.events.model import Event
from portal.sdk import AppContext, Conflict, Forbidden, InvalidInput
from tests.apps.ticketcloud.conftest import Workspace, create_ticket, history_of, reload, topics
from ticketcloud.attachments import AttachmentUpload, message_attachments
from ticketcloud.conversation import Author, do_reply
from ticketcloud.history import ticket_history
from ticketcloud.models import Message, Ticket
from ticketcloud.status import Status
from ticketcloud.tickets import access_ticket, ticket_messages
from ticketcloud.updates import do_update_ticket
from ticketcloud.views import agent_view, public_view


async def reply(context: AppContext, workspace: Workspace, ticket: Ticket, author: Author, *,
                body: str = "Thanks, we are on it.", visibility: str = "public",
                attachments: tuple[AttachmentUpload, ...] = ()) -> Message:
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        return await do_reply(context, session, loaded, author=author, body=body,
                              visibility=visibility, attachments=attachments)


def agent(workspace: Workspace, index: int = 0) -> Author:
    return Author.of_principal(workspace.principal(workspace.agents[index]))


def customer(workspace: Workspace) -> Author:
    return Author.of_principal(workspace.principal(workspace.customer))


async def set_status(context: AppContext, workspace: Workspace, ticket: Ticket,
                     *statuses: str) -> Ticket:
    for status in statuses:
        async with context.transaction() as session:
            loaded = await session.get(Ticket, ticket.id)
            assert loaded is not None
            ticket = await do_update_ticket(
                context, session, loaded, actor=workspace.principal(workspace.admin),
                expected_version=loaded.version, changes={"status": status})
    return ticket


async def test_reply_agent_first_response_opens_ticket(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    ticket = await create_ticket(context, workspace)
    published.clear()

    await reply(context, workspace, ticket, agent(workspace))
    first = await reload(db, ticket)
    await reply(context, workspace, ticket, agent(workspace, 1))
    second = await reload(db, ticket)

    assert first.status is Status.OPEN
    assert first.first_response_at is not None
    assert second.first_response_at == first.first_response_at
    assert first.version == 2
    assert second.version == 2
    history = await history_of(db, ticket)
    assert [(entry.field, entry.old_value, entry.new_value, entry.reason)
            for entry in history] == [("status", "new", "open", "Agent 0 replied")]
    assert history[0].actor_user_id == workspace.agent_id(0)
    assert topics(published) == ["ticketcloud.ticket.replied", "ticketcloud.ticket.updated",
                                 "ticketcloud.ticket.replied"]
    assert published[1].payload["changes"] == {"status": {"old": "new", "new": "open"}}


async def test_reply_internal_note_is_no_first_response(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    ticket = await create_ticket(context, workspace)
    published.clear()

    message = await reply(context, workspace, ticket, agent(workspace), visibility="internal")

    fresh = await reload(db, ticket)
    assert fresh.first_response_at is None
    assert fresh.status is Status.NEW
    assert fresh.version == 1
    assert message.from_agent
    assert topics(published) == ["ticketcloud.ticket.replied"]
    assert published[0].payload["visibility"] == "internal"


async def test_reply_customer_cannot_write_internal_note(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)

    with pytest.raises(Forbidden):
        await reply(context, workspace, ticket, customer(workspace), visibility="internal")

    async with db.read() as session:
        messages = await ticket_messages(session, ticket, include_internal=True)
    assert len(messages) == 1


async def test_reply_customer_reopens_solved_ticket(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    ticket = await create_ticket(context, workspace)
    await set_status(context, workspace, ticket, "solved")
    published.clear()

    await reply(context, workspace, ticket, customer(workspace), body="Still broken.")

    fresh = await reload(db, ticket)
    assert fresh.status is Status.OPEN
    assert fresh.solved_at is None
    last = (await history_of(db, ticket))[-1]
    assert (last.field, last.old_value, last.new_value) == ("status", "solved", "open")
    assert last.reason == "Reopened by the customer's reply"
    assert last.actor_user_id is None
    assert topics(published) == ["ticketcloud.ticket.replied", "ticketcloud.ticket.updated"]
    assert published[1].payload["changes"] == {"status": {"old": "solved", "new": "open"}}


async def test_reply_customer_by_email_answers_pending(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)
    await set_status(context, workspace, ticket, "pending")

    message = await reply(context, workspace, ticket,
                          Author.of_email("Cal@Example.com", "Cal"), body="Here is the log.")

    assert (await reload(db, ticket)).status is Status.OPEN
    assert message.author_email == "cal@example.com"
    assert message.author_user_id is None
    assert (await history_of(db, ticket))[-1].reason == "The customer replied"


async def test_reply_agent_on_solved_keeps_status(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)
    await set_status(context, workspace, ticket, "solved")

    await reply(context, workspace, ticket, agent(workspace), body="Glad it works.")

    assert (await reload(db, ticket)).status is Status.SOLVED


async def test_reply_closed_ticket_rejected(
        context: AppContext, db: Database, workspace: Workspace,
        published: list[Event]) -> None:
    ticket = await create_ticket(context, workspace)
    await set_status(context, workspace, ticket, "solved", "closed")
    published.clear()

    with pytest.raises(Conflict) as raised:
        await reply(context, workspace, ticket, customer(workspace), body="Hello again")

    assert raised.value.code == "ticket_closed"
    assert "open a new ticket" in raised.value.message
    assert published == []


@pytest.mark.parametrize(("body", "visibility", "field"), [
    ("", "public", "body"), ("x" * 50_001, "public", "body"), ("Hi", "secret", "visibility")])
async def test_reply_rejects_invalid_input(
        context: AppContext, workspace: Workspace, body: str, visibility: str,
        field: str) -> None:
    ticket = await create_ticket(context, workspace)

    with pytest.raises(InvalidInput) as raised:
        await reply(context, workspace, ticket, agent(workspace), body=body,
                    visibility=visibility)

    assert raised.value.field == field


async def test_public_view_hides_internal_notes(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace, subject="Cannot print")
    await reply(context, workspace, ticket, agent(workspace), body="Customer is on a trial.",
                visibility="internal",
                attachments=(AttachmentUpload("notes.txt", "text/plain", b"secret"),))
    await reply(context, workspace, ticket, agent(workspace, 1), body="Try turning it off.",
                attachments=(AttachmentUpload("guide.pdf", "application/pdf", b"%PDF"),))

    async with db.read() as session:
        loaded = await access_ticket(session, workspace.tenant_id, ticket.number,
                                     workspace.principal(workspace.customer))
        messages = await ticket_messages(session, loaded, include_internal=True)
        attachments = await message_attachments(session, workspace.tenant_id,
                                                [m.id for m in messages if m.id is not None])
        view = public_view(loaded, messages, attachments=attachments)

    bodies = [message["body"] for message in view["messages"]]
    assert bodies == ["The office printer smokes when printing.", "Try turning it off."]
    assert [item["filename"] for message in view["messages"]
            for item in message["attachments"]] == ["guide.pdf"]
    assert "Customer is on a trial." not in repr(view)
    assert "notes.txt" not in repr(view)
    assert set(view) == {"number", "subject", "status", "created_at", "updated_at",
                         "requester", "messages"}
    assert view["status"] == "open"
    assert view["messages"][1]["author"] == "Agent 1"
    assert view["messages"][1]["from_agent"] is True


async def test_public_view_category_only_when_given(
        context: AppContext, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)

    assert "category" not in public_view(ticket, [])
    assert public_view(ticket, [], category_name="Billing")["category"] == "Billing"


@pytest.mark.parametrize(("status", "shown"), [
    ("open", "open"), ("on_hold", "open"), ("pending", "pending"), ("solved", "solved")])
async def test_public_view_customer_status(
        context: AppContext, workspace: Workspace, status: str, shown: str) -> None:
    ticket = await set_status(context, workspace, await create_ticket(context, workspace),
                              status)

    assert public_view(ticket, [])["status"] == shown


async def test_agent_view_has_notes_and_history(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)
    await reply(context, workspace, ticket, agent(workspace), body="Internal",
                visibility="internal")
    await reply(context, workspace, ticket, agent(workspace), body="Public")

    async with db.read() as session:
        loaded = await access_ticket(session, workspace.tenant_id, ticket.number,
                                     workspace.principal(workspace.agents[0]))
        view = agent_view(loaded, await ticket_messages(session, loaded, include_internal=True),
                          history=await ticket_history(session, loaded))

    assert [message["visibility"] for message in view["messages"]] == [
        "public", "internal", "public"]
    assert [entry["reason"] for entry in view["history"]] == ["Agent 0 replied"]
    assert view["version"] == 2
