"""Inbound mail on TicketCloud's domain layer: threading, participants, automatic mail,
duplicates and the mail details kept for display. The SMTP conversations are in
tests/apps/ticketcloud/test_mail_conversation.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlmodel import col, select

from portal.db import Database
from portal.mail.parse import parse_mail
from portal.sdk import AppContext
from tests.apps.ticketcloud.conftest import (
    Rollback,
    Workspace,
    create_ticket,
    history_of,
    reload,
)
from tests.apps.ticketcloud.mail_samples import (
    customer_mail,
    delivery_report,
    new_message_id,
    out_of_office,
)
from ticketcloud import mail_loops
from ticketcloud.attachments import MAX_ATTACHMENT_BYTES
from ticketcloud.conversation import Author, do_reply
from ticketcloud.mail_in import do_set_support_address, handle_mail
from ticketcloud.models import (
    Attachment,
    MailBounce,
    MailDetail,
    MailParticipant,
    MailThread,
    Message,
    Ticket,
)
from ticketcloud.updates import do_update_ticket

SUPPORT = "support@acme.test"
CASEY = "casey@customer.example"


@pytest.fixture(autouse=True)
async def support_address(context: AppContext, workspace: Workspace) -> str:
    """The workspace receives mail at SUPPORT, which it never adds as a participant."""
    async with context.transaction() as session:
        await do_set_support_address(session, workspace.tenant_id, SUPPORT)
    return SUPPORT


async def deliver(context: AppContext, workspace: Workspace, mail: EmailMessage | bytes, *,
                  inbound_id: int = 1) -> str:
    raw = mail if isinstance(mail, bytes) else bytes(mail)
    async with context.transaction() as session:
        return await handle_mail(context, session, workspace.tenant_id, parse_mail(raw),
                                 inbound_id)


async def tickets_of(db: Database, workspace: Workspace) -> list[Ticket]:
    async with db.read() as session:
        return list((await session.exec(select(Ticket).where(
            Ticket.tenant_id == workspace.tenant_id).order_by(col(Ticket.number)))).all())


async def messages_of(db: Database, ticket: Ticket) -> list[Message]:
    async with db.read() as session:
        return list((await session.exec(select(Message).where(
            Message.ticket_id == ticket.id).order_by(col(Message.id)))).all())


async def outgoing_ids(db: Database, ticket: Ticket) -> list[str]:
    async with db.read() as session:
        return list((await session.exec(select(MailThread.message_id).where(
            MailThread.ticket_id == ticket.id, MailThread.direction == "out")
            .order_by(col(MailThread.id)))).all())


async def outbox(db: Database, tenant_id: int) -> list[tuple[Any, ...]]:
    async with db.read() as session:
        result = await session.exec(text(  # type: ignore[call-overload]
            "SELECT envelope_to, content FROM portal_mail_outbox WHERE tenant_id = :tenant "
            "ORDER BY id"), params={"tenant": tenant_id})
        return [tuple(row) for row in result.all()]


async def email_ticket(context: AppContext, workspace: Workspace, **options: Any) -> Ticket:
    """Start a ticket by mail from Casey and return it."""
    outcome = await deliver(context, workspace, customer_mail(to=SUPPORT, **options),
                            inbound_id=options.pop("inbound_id", 1))
    assert outcome.startswith("created ticket #"), outcome
    number = int(outcome.split("#")[1].split()[0])
    async with context.db.read() as session:
        ticket = (await session.exec(select(Ticket).where(
            Ticket.tenant_id == workspace.tenant_id, Ticket.number == number))).one()
    return ticket


async def test_reply_in_reply_to_joins_ticket(context: AppContext, db: Database,
                                              workspace: Workspace) -> None:
    ticket = await email_ticket(context, workspace)
    confirmation = (await outgoing_ids(db, ticket))[0]

    outcome = await deliver(context, workspace, customer_mail(
        to=SUPPORT, subject="Re: whatever", body="It still jams.", in_reply_to=confirmation),
        inbound_id=2)

    assert outcome == f"added to ticket #{ticket.number}"
    assert len(await tickets_of(db, workspace)) == 1
    assert [item.body for item in await messages_of(db, ticket)] == [
        "The printer on floor 2 jams.", "It still jams."]
    assert (await reload(db, ticket)).requester_email == CASEY


async def test_reply_references_only_joins(context: AppContext, db: Database,
                                           workspace: Workspace) -> None:
    ticket = await email_ticket(context, workspace)
    confirmation = (await outgoing_ids(db, ticket))[0]

    outcome = await deliver(context, workspace, customer_mail(
        to=SUPPORT, subject="No tag", references=["<unknown@elsewhere.example>", confirmation]),
        inbound_id=2)

    assert outcome == f"added to ticket #{ticket.number}"


async def test_reply_to_inbound_message_id_joins(context: AppContext, db: Database,
                                                 workspace: Workspace) -> None:
    first_id = new_message_id()
    ticket = await email_ticket(context, workspace, message_id=first_id)

    outcome = await deliver(context, workspace, customer_mail(
        to=SUPPORT, sender="colleague@customer.example", subject="Re: Printer broken",
        in_reply_to=f"  {first_id.strip('<>')}  "), inbound_id=2)

    assert outcome == f"added to ticket #{ticket.number}"


async def test_subject_tag_participant_vs_stranger(context: AppContext, db: Database,
                                                   workspace: Workspace) -> None:
    ticket = await email_ticket(context, workspace)
    subject = f"Re: [#{ticket.number}] Printer broken"

    from_requester = await deliver(context, workspace, customer_mail(
        to=SUPPORT, subject=subject), inbound_id=2)
    from_stranger = await deliver(context, workspace, customer_mail(
        to=SUPPORT, sender="mallory@attacker.example", subject=subject), inbound_id=3)

    assert from_requester == f"added to ticket #{ticket.number}"
    assert from_stranger == f"created ticket #{ticket.number + 1}"
    assert len(await messages_of(db, ticket)) == 2


async def test_other_tenant_message_id_new_ticket(context: AppContext, db: Database,
                                                  workspace: Workspace,
                                                  other_workspace: Workspace) -> None:
    foreign = await email_ticket(context, other_workspace)
    foreign_id = (await outgoing_ids(db, foreign))[0]

    outcome = await deliver(context, workspace, customer_mail(
        to=SUPPORT, subject=f"Re: [#{foreign.number}] Printer broken",
        in_reply_to=foreign_id), inbound_id=2)

    assert outcome == "created ticket #1"
    assert len(await messages_of(db, foreign)) == 1


async def test_cc_colleague_gets_agent_reply(context: AppContext, db: Database,
                                             workspace: Workspace) -> None:
    ticket = await email_ticket(context, workspace, cc=["Colin <colin@customer.example>",
                                                        SUPPORT])
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        await do_reply(context, session, loaded, body="Try a new toner.",
                       author=Author.of_principal(workspace.principal(workspace.agents[0])))
    async with db.read() as session:
        people = (await session.exec(select(MailParticipant.email).where(
            MailParticipant.ticket_id == ticket.id))).all()
    reply_to, reply = (await outbox(db, workspace.tenant_id))[-1]

    assert list(people) == ["colin@customer.example"]
    assert reply_to == f"{CASEY},colin@customer.example"
    assert b"Cc: Colin <colin@customer.example>" in reply


async def test_new_sender_reply_becomes_participant(context: AppContext, db: Database,
                                                    workspace: Workspace) -> None:
    ticket = await email_ticket(context, workspace)
    confirmation = (await outgoing_ids(db, ticket))[0]

    await deliver(context, workspace, customer_mail(
        to=SUPPORT, sender="dana@customer.example", name="Dana", in_reply_to=confirmation),
        inbound_id=2)
    async with db.read() as session:
        people = (await session.exec(select(MailParticipant.email).where(
            MailParticipant.ticket_id == ticket.id))).all()
    messages = await messages_of(db, ticket)

    assert list(people) == ["dana@customer.example"]
    assert messages[-1].author_email == "dana@customer.example"
    assert (await reload(db, ticket)).requester_email == CASEY


async def test_out_of_order_parent_joins_reply_ticket(context: AppContext, db: Database,
                                                      workspace: Workspace) -> None:
    parent_id = new_message_id()

    reply = await deliver(context, workspace, customer_mail(
        to=SUPPORT, subject="Re: Printer broken", body="Forgot: it is the HP.",
        in_reply_to=parent_id, references=[parent_id]), inbound_id=1)
    parent = await deliver(context, workspace, customer_mail(
        to=SUPPORT, message_id=parent_id), inbound_id=2)
    tickets = await tickets_of(db, workspace)

    assert reply == "created ticket #1"
    assert parent == "added to ticket #1"
    assert len(tickets) == 1
    assert [item.body for item in await messages_of(db, tickets[0])] == [
        "Forgot: it is the HP.", "The printer on floor 2 jams."]


async def test_duplicate_delivery_stored_once(context: AppContext, db: Database,
                                              workspace: Workspace) -> None:
    mail = customer_mail(to=SUPPORT)

    first = await deliver(context, workspace, mail, inbound_id=1)
    again = await deliver(context, workspace, mail, inbound_id=2)
    tickets = await tickets_of(db, workspace)

    assert first == "created ticket #1"
    assert again == "ignored: duplicate of mail on ticket #1"
    assert len(tickets) == 1
    assert len(await messages_of(db, tickets[0])) == 1


async def test_duplicate_without_message_id_by_inbound_row(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    mail = customer_mail(to=SUPPORT)
    del mail["Message-ID"]

    first = await deliver(context, workspace, mail, inbound_id=7)
    again = await deliver(context, workspace, mail, inbound_id=7)

    assert first == "created ticket #1"
    assert again == "ignored: duplicate of mail on ticket #1"


async def test_automatic_mail_ticket_without_confirmation(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    generated = await deliver(context, workspace, customer_mail(
        to=SUPPORT, sender="monitor@customer.example",
        headers={"Auto-Submitted": "auto-generated"}), inbound_id=1)
    listed = await deliver(context, workspace, customer_mail(
        to=SUPPORT, sender="list@customer.example",
        headers={"List-Id": "<news.customer.example>", "Precedence": "list"}), inbound_id=2)

    assert generated == "created ticket #1 without confirmation"
    assert listed == "created ticket #2 without confirmation"
    assert await outbox(db, workspace.tenant_id) == []


async def test_bounce_marks_address_no_ticket(context: AppContext, db: Database,
                                              workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace, requester_email="gone@customer.example")
    sent_id = (await outgoing_ids(db, ticket))[0]

    outcome = await deliver(context, workspace, delivery_report(
        to=SUPPORT, failed="gone@customer.example", original_message_id=sent_id))
    async with db.read() as session:
        bounces = (await session.exec(select(MailBounce).where(
            MailBounce.ticket_id == ticket.id))).all()

    assert outcome == f"bounce recorded on ticket #{ticket.number}: gone@customer.example"
    assert len(await tickets_of(db, workspace)) == 1
    assert [(row.email, row.status, row.permanent) for row in bounces] == [
        ("gone@customer.example", "5.1.1", True)]
    assert [entry.field for entry in await history_of(db, ticket)][-1] == "mail_bounce"


async def test_bounce_unknown_message_ignored(context: AppContext, db: Database,
                                             workspace: Workspace) -> None:
    outcome = await deliver(context, workspace, delivery_report(
        to=SUPPORT, failed="x@customer.example", original_message_id="<nope@example.org>"))

    assert outcome == "ignored: bounce of mail that belongs to no ticket"
    assert await tickets_of(db, workspace) == []


async def test_out_of_office_keeps_status(context: AppContext, db: Database,
                                          workspace: Workspace) -> None:
    ticket = await email_ticket(context, workspace)
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        await do_update_ticket(context, session, loaded,
                               actor=workspace.principal(workspace.agents[0]),
                               expected_version=loaded.version,
                               changes={"status": "pending", "assignee_id":
                                        workspace.agent_id(0)})
    confirmation = (await outgoing_ids(db, ticket))[0]
    before = await reload(db, ticket)

    outcome = await deliver(context, workspace, out_of_office(
        to=SUPPORT, sender=CASEY, in_reply_to=confirmation), inbound_id=2)
    after = await reload(db, ticket)

    assert outcome.startswith("automatic mail (Auto-Submitted: auto-replied")
    assert outcome.endswith(f"noted on ticket #{ticket.number}")
    assert after.status == before.status
    assert after.assignee_id == workspace.agent_id(0)
    assert len(await messages_of(db, ticket)) == 1
    assert (await history_of(db, ticket))[-1].field == "auto_reply"


async def test_own_mail_looped_back_ignored(context: AppContext, db: Database,
                                            workspace: Workspace) -> None:
    ticket = await email_ticket(context, workspace)
    own_id = (await outgoing_ids(db, ticket))[0]

    outcome = await deliver(context, workspace, customer_mail(
        to=SUPPORT, sender=SUPPORT, message_id=own_id), inbound_id=2)

    assert outcome == f"ignored: our own mail {own_id} came back"
    assert len(await messages_of(db, ticket)) == 1


async def test_confirmations_rate_limited(context: AppContext, db: Database,
                                          workspace: Workspace) -> None:
    # Every other mail spells the address in capitals, which counts as the same address.
    outcomes = [await deliver(context, workspace, customer_mail(
        to=SUPPORT, subject=f"Problem {index}", sender=CASEY if index % 2 else CASEY.upper()),
        inbound_id=index) for index in range(1, 8)]

    limit = mail_loops.MAX_AUTO_REPLIES
    assert all(item.endswith(f"#{index + 1}") for index, item in enumerate(outcomes[:limit]))
    assert all(item.endswith("without confirmation") for item in outcomes[limit:])
    assert len(await outbox(db, workspace.tenant_id)) == limit


async def test_confirmations_limit_per_workspace(context: AppContext, db: Database,
                                                 workspace: Workspace,
                                                 other_workspace: Workspace) -> None:
    other_support = "support@globex.test"
    async with context.transaction() as session:
        await do_set_support_address(session, other_workspace.tenant_id, other_support)
    limit = mail_loops.MAX_AUTO_REPLIES
    for index in range(1, limit + 1):
        await deliver(context, workspace, customer_mail(to=SUPPORT), inbound_id=index)

    other = await deliver(context, other_workspace, customer_mail(to=other_support),
                          inbound_id=limit + 1)
    over = await deliver(context, workspace, customer_mail(to=SUPPORT), inbound_id=limit + 2)

    assert other == "created ticket #1"
    assert over == f"created ticket #{limit + 1} without confirmation"
    assert len(await outbox(db, other_workspace.tenant_id)) == 1
    assert len(await outbox(db, workspace.tenant_id)) == limit


async def test_confirmations_rollback_not_counted(context: AppContext, db: Database,
                                                  workspace: Workspace) -> None:
    """A mail whose transaction rolls back after its confirmation was counted, such as
    one the gateway quarantines, leaves the address's count as it was."""
    limit = mail_loops.MAX_AUTO_REPLIES
    for index in range(1, limit + 1):
        with pytest.raises(Rollback):
            async with context.transaction() as session:
                outcome = await handle_mail(context, session, workspace.tenant_id,
                                            parse_mail(bytes(customer_mail(to=SUPPORT))), index)
                assert outcome == "created ticket #1"
                raise Rollback

    outcomes = [await deliver(context, workspace, customer_mail(to=SUPPORT),
                              inbound_id=limit + index) for index in range(1, limit + 2)]

    assert outcomes[:limit] == [f"created ticket #{index}" for index in range(1, limit + 1)]
    assert outcomes[limit] == f"created ticket #{limit + 1} without confirmation"
    assert len(await outbox(db, workspace.tenant_id)) == limit


async def test_confirmations_concurrent_within_limit(context: AppContext, db: Database,
                                                     workspace: Workspace) -> None:
    """Mail from one address handled in concurrent transactions, as several gateway
    workers on PostgreSQL handle it, gets no more than the limit of confirmations."""
    # The first ticket creates the workspace's ticket counter, as installing the app
    # does, so that the concurrent transactions below only update it.
    await create_ticket(context, workspace)
    limit = mail_loops.MAX_AUTO_REPLIES
    outcomes = await asyncio.gather(*[
        deliver(context, workspace, customer_mail(to=SUPPORT, subject=f"Problem {index}"),
                inbound_id=index) for index in range(1, limit + 4)])

    to_casey = [row for row in await outbox(db, workspace.tenant_id) if CASEY in str(row[0])]

    assert len(await tickets_of(db, workspace)) == 1 + limit + 3
    assert sum(not item.endswith("without confirmation") for item in outcomes) == limit
    assert len(to_casey) == limit


async def test_auto_reply_count_concurrent(context: AppContext, workspace: Workspace) -> None:
    """Concurrent transactions that only count an automatic reply, without the ticket
    creation that also orders them, never count more than the limit."""

    async def count() -> bool:
        async with context.transaction() as session:
            return await mail_loops.do_count_auto_reply(context, session,
                                                        workspace.tenant_id, CASEY)

    results = await asyncio.gather(*[count() for _ in range(12)])

    assert results.count(True) == mail_loops.MAX_AUTO_REPLIES


async def test_reply_reopens_solved_ticket(context: AppContext, db: Database,
                                           workspace: Workspace) -> None:
    ticket = await email_ticket(context, workspace)
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        await do_update_ticket(context, session, loaded,
                               actor=workspace.principal(workspace.agents[0]),
                               expected_version=loaded.version, changes={"status": "solved"})

    await deliver(context, workspace, customer_mail(
        to=SUPPORT, subject=f"Re: [#{ticket.number}] Printer broken"), inbound_id=2)

    assert (await reload(db, ticket)).status == "open"


async def test_mail_to_closed_ticket_starts_new(context: AppContext, db: Database,
                                                workspace: Workspace) -> None:
    ticket = await email_ticket(context, workspace)
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        for status in ("solved", "closed"):
            await do_update_ticket(context, session, loaded,
                                   actor=workspace.principal(workspace.agents[0]),
                                   expected_version=loaded.version, changes={"status": status})

    outcome = await deliver(context, workspace, customer_mail(
        to=SUPPORT, subject=f"Re: [#{ticket.number}] Printer broken"), inbound_id=2)
    tickets = await tickets_of(db, workspace)
    follow_up = [entry for entry in await history_of(db, tickets[1])
                 if entry.field == "follow_up"]

    assert outcome == "created ticket #2"
    assert [entry.new_value for entry in follow_up] == [f"#{ticket.number}"]


async def test_detail_keeps_quotes_and_skips_large(context: AppContext, db: Database,
                                                   workspace: Workspace) -> None:
    mail = customer_mail(to=SUPPORT, body="New text.\n\nOn Mon, 3 Mar 2025, Ann wrote:\n"
                         "> old text\n", html='<p>New text <img src="cid:logo@x"></p>')
    mail.add_attachment(b"\x89PNG small", maintype="image", subtype="png",
                        filename="logo.png", cid="<logo@x>")
    mail.add_attachment(b"x" * (MAX_ATTACHMENT_BYTES + 1), maintype="application",
                        subtype="octet-stream", filename="huge.bin")
    outcome = await deliver(context, workspace, mail, inbound_id=5)
    tickets = await tickets_of(db, workspace)
    ticket = tickets[0]
    message = (await messages_of(db, ticket))[0]
    async with db.read() as session:
        detail = (await session.exec(select(MailDetail).where(
            MailDetail.message_id == message.id))).one()

    assert outcome == "created ticket #1"
    assert message.body.startswith("New text.")
    assert "exceeded the size or count limits" in message.body
    assert detail.quoted_text.startswith("On Mon, 3 Mar 2025, Ann wrote:")
    assert detail.html is not None and "cid:logo@x" in detail.html
    assert list(detail.inline_images) == ["logo@x"]
    async with db.read() as session:
        logo = (await session.exec(select(Attachment).where(
            Attachment.message_id == message.id))).one()
    assert detail.inline_images["logo@x"] == logo.id
    assert [item["filename"] for item in detail.skipped] == ["huge.bin"]


@pytest.fixture
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements run on the database, in order, as they run."""
    seen: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def test_reply_reads_thread_rows_once(context: AppContext, db: Database,
                                            workspace: Workspace,
                                            statements: list[str]) -> None:
    """The duplicate check, threading and recording share one read of the mail's
    Message-IDs in the thread table."""
    first_id = new_message_id()
    ticket = await email_ticket(context, workspace, message_id=first_id)
    statements.clear()

    outcome = await deliver(context, workspace, customer_mail(
        to=SUPPORT, in_reply_to=first_id, references=[first_id], body="Still broken."),
        inbound_id=2)

    assert outcome == f"added to ticket #{ticket.number}"
    assert sum("FROM ticketcloud_mail_thread WHERE" in item
               and "ticketcloud_mail_thread.message_id IN" in item
               for item in statements) == 1


async def test_new_ticket_skips_needless_reads(context: AppContext, db: Database,
                                               workspace: Workspace,
                                               statements: list[str]) -> None:
    """A new ticket from mail without Cc or inline images reads no attachments, no
    participants, no messages and no mail details (its Message-ID is new), and the
    workspace's agents once."""
    outcome = await deliver(context, workspace, customer_mail(to=SUPPORT))

    assert outcome.startswith("created ticket #1")
    selects = [item for item in statements if item.startswith("SELECT")]
    for table in ("ticketcloud_attachment", "ticketcloud_mail_participant",
                  "ticketcloud_message", "ticketcloud_mail_detail"):
        assert not any(f"FROM {table} " in item for item in selects), table
    assert sum("FROM portal_user " in item for item in selects) == 1

