"""Full-text search: words in subjects, replies and notes, stemming, prefixes, what a
customer may search, tenant isolation, and search text that looks like query syntax."""

from __future__ import annotations

import pytest

from portal.db import Database
from portal.sdk import AppContext, InvalidInput
from tests.apps.ticketcloud.conftest import Workspace, create_ticket
from ticketcloud.api_listing import TicketQuery, search_tickets
from ticketcloud.conversation import Author, do_reply
from ticketcloud.models import Ticket
from ticketcloud.search import match_expression


async def found(db: Database, workspace: Workspace, text: str, *,
                customer: bool = False) -> list[int]:
    user = workspace.customer if customer else workspace.agents[0]
    async with db.read() as session:
        page = await search_tickets(session, workspace.principal(user),
                                    TicketQuery(text=text), customer=customer)
    return sorted(ticket.number for ticket in page.tickets)


async def note(context: AppContext, workspace: Workspace, ticket: Ticket, body: str, *,
               visibility: str) -> None:
    author = Author.of_principal(workspace.principal(workspace.agents[0]))
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        await do_reply(context, session, loaded, author=author, body=body,
                       visibility=visibility)


async def test_search_subject_body_and_replies(db: Database, context: AppContext,
                                               workspace: Workspace) -> None:
    invoice = await create_ticket(context, workspace, subject="Invoice missing",
                                  body="Where is my bill?")
    printer = await create_ticket(context, workspace, subject="Printer jam",
                                  body="Paper stuck in tray two.")
    await note(context, workspace, printer, "Ordered a replacement roller.",
               visibility="public")

    assert await found(db, workspace, "invoice") == [invoice.number]
    assert await found(db, workspace, "TRAY") == [printer.number]
    assert await found(db, workspace, "roller") == [printer.number]
    assert await found(db, workspace, "stuck paper") == [printer.number]
    assert await found(db, workspace, "stuck invoice") == []


async def test_search_matches_word_prefixes(db: Database, context: AppContext,
                                            workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace, subject="Invoices were charged twice",
                                 body="Both payments failed to refund.")

    assert await found(db, workspace, "invoice") == [ticket.number]
    assert await found(db, workspace, "charg pay") == [ticket.number]
    assert await found(db, workspace, "refu") == [ticket.number]
    assert await found(db, workspace, "voice") == []


async def test_search_ignores_diacritics(db: Database, context: AppContext,
                                         workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace, subject="Café reçu manquant",
                                 body="Le reçu du café n'est pas arrivé.")

    assert await found(db, workspace, "cafe recu") == [ticket.number]


async def test_search_customer_skips_internal_notes(db: Database, context: AppContext,
                                                    workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace, subject="Refund request")
    await note(context, workspace, ticket, "Customer is a known fraudster.",
               visibility="internal")

    assert await found(db, workspace, "fraudster") == [ticket.number]
    assert await found(db, workspace, "fraudster", customer=True) == []
    assert await found(db, workspace, "internal_text : fraudster", customer=True) == []
    assert await found(db, workspace, "refund", customer=True) == [ticket.number]


async def test_search_customer_sees_own_tickets_only(db: Database, context: AppContext,
                                                     workspace: Workspace) -> None:
    own = await create_ticket(context, workspace, subject="Broken zipper")
    await create_ticket(context, workspace, subject="Broken zipper too",
                        requester_email=workspace.other_customer.email)

    assert await found(db, workspace, "zipper", customer=True) == [own.number]


async def test_search_stays_in_tenant(db: Database, context: AppContext, workspace: Workspace,
                                      other_workspace: Workspace) -> None:
    ours = await create_ticket(context, workspace, subject="Lighthouse lamp out")
    await create_ticket(context, other_workspace, subject="Lighthouse lamp out")

    assert await found(db, workspace, "lighthouse") == [ours.number]


async def test_search_follows_subject_change(db: Database, context: AppContext,
                                             workspace: Workspace) -> None:
    """Agents cannot change a subject today; the index follows any code that does."""
    ticket = await create_ticket(context, workspace, subject="Typo in subjcet")
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        loaded.subject = "Typo fixed in subject"
        session.add(loaded)

    assert await found(db, workspace, "subjcet") == []
    assert await found(db, workspace, "fixed") == [ticket.number]


@pytest.mark.parametrize("text", [
    '"x"', 'NEAR(a b)', "a OR b", "subject:*", "^start", "x AND", "-minus", "a*b", "(((x",
    "internal_text:secret", "{public_text}", "tenant : t1", "t1",
    "'; DROP TABLE ticketcloud_ticket; --",
])
async def test_search_query_syntax_is_plain_text(db: Database, context: AppContext,
                                                 workspace: Workspace, text: str) -> None:
    await create_ticket(context, workspace, subject="Plain ticket")

    assert await found(db, workspace, text) == []


async def test_search_finds_words_around_punctuation(db: Database, context: AppContext,
                                                     workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace, subject="Order #A-1042 (urgent)",
                                 body="E-mail: ops@example.com")

    assert await found(db, workspace, "a-1042") == [ticket.number]
    assert await found(db, workspace, "ops@example.com") == [ticket.number]


@pytest.mark.parametrize("text", ["!!!", "   ", "--", '"', "(((", "a " * 13])
def test_match_expression_rejects_text(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        match_expression(text, customer=False, tenant_id=1)

    assert raised.value.field == "q"


def test_match_expression_quotes_words() -> None:
    assert match_expression('say "hi" now', customer=False, tenant_id=3) == (
        'tenant : "t3" AND {subject public_text internal_text} : ("say"* AND "hi"* AND "now"*)')
    assert match_expression("hi", customer=True, tenant_id=3) == (
        'tenant : "t3" AND {subject public_text} : ("hi"*)')
