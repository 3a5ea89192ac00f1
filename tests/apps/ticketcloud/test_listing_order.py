"""Queue pages merged from one list per status: every sort order, both directions, cursor
and page walks give exactly the order a plain sort of all matching tickets gives."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest

from portal.db import Database
from portal.sdk import AppContext
from tests.apps.ticketcloud.conftest import Workspace, create_ticket
from ticketcloud.api_listing import (
    TicketQuery,
    _decode_cursor,
    _sort_value,
    search_tickets,
)
from ticketcloud.models import Priority, Ticket
from ticketcloud.status import Status

TICKETS = 40


@pytest.fixture
async def tickets(db: Database, context: AppContext, workspace: Workspace) -> list[Ticket]:
    """Tickets with mixed statuses and priorities, and update times that repeat, so that
    ties on the sort key are common."""
    rng = random.Random(5)
    created = [await create_ticket(context, workspace, subject=f"Ticket word{index % 3}",
                                   body=f"Body number {index}")
               for index in range(TICKETS)]
    async with db.transaction() as session:
        for ticket in created:
            loaded = await session.get(Ticket, ticket.id)
            assert loaded is not None
            loaded.status = rng.choice(list(Status))
            loaded.priority = rng.choice(list(Priority))
            loaded.updated_at = loaded.created_at + timedelta(minutes=rng.randint(0, 4))
            session.add(loaded)
    async with db.read() as session:
        return [ticket for ticket in [await session.get(Ticket, item.id) for item in created]
                if ticket is not None]


def expected(tickets: list[Ticket], query: TicketQuery) -> list[int]:
    matching = [ticket for ticket in tickets
                if (not query.statuses or ticket.status in query.statuses)
                and (query.priority is None or ticket.priority == query.priority)]
    ordered = sorted(matching, key=lambda ticket: (_sort_value(ticket, query.sort),
                                                   ticket.number),
                     reverse=query.order == "desc")
    return [ticket.number for ticket in ordered]


async def walk(db: Database, workspace: Workspace, query: TicketQuery, *,
               by_page: bool) -> list[int]:
    who = workspace.principal(workspace.agents[0])
    numbers: list[int] = []
    current = replace(query, page=1) if by_page else query
    for _ in range(TICKETS):
        async with db.read() as session:
            page = await search_tickets(session, who, current, customer=False)
        numbers += [ticket.number for ticket in page.tickets]
        if page.next_params is None:
            return numbers
        if by_page:
            current = replace(current, page=int(page.next_params["page"]))
        else:
            after = _decode_cursor(page.next_params["cursor"], query.sort, query.order)
            current = replace(query, after=after)
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("sort", ["created_at", "updated_at", "priority", "number"])
@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("by_page", [False, True])
async def test_search_tickets_walk_matches_sorted_list(
        db: Database, workspace: Workspace, tickets: list[Ticket], sort: str,
        order: str, by_page: bool) -> None:
    query = TicketQuery(statuses=(Status.NEW, Status.OPEN, Status.PENDING), sort=sort,
                        order="asc" if order == "asc" else "desc", per_page=4)

    assert await walk(db, workspace, query, by_page=by_page) == expected(tickets, query)


@pytest.mark.parametrize("sort", ["created_at", "priority"])
async def test_search_tickets_all_statuses(db: Database, workspace: Workspace,
                                           tickets: list[Ticket], sort: str) -> None:
    query = TicketQuery(sort=sort, per_page=7)

    assert await walk(db, workspace, query, by_page=False) == expected(tickets, query)


async def test_search_tickets_priority_filter_with_priority_sort(
        db: Database, workspace: Workspace, tickets: list[Ticket]) -> None:
    query = TicketQuery(priority=Priority.HIGH, sort="priority", per_page=3)

    assert await walk(db, workspace, query, by_page=False) == expected(tickets, query)


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("by_page", [False, True])
async def test_search_tickets_text_walk(db: Database, workspace: Workspace,
                                        tickets: list[Ticket], order: str,
                                        by_page: bool) -> None:
    query = TicketQuery(text="word1", statuses=(Status.NEW, Status.OPEN, Status.SOLVED),
                        order="asc" if order == "asc" else "desc", per_page=2)
    matching = [ticket for ticket in tickets if ticket.subject.endswith("word1")
                and ticket.status in query.statuses]
    numbers = sorted((ticket.number for ticket in matching), reverse=order == "desc")

    assert numbers
    assert await walk(db, workspace, query, by_page=by_page) == numbers
