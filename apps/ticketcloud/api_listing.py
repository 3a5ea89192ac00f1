"""Listing tickets for the REST API: filters, sort order and pagination.

Pagination is by cursor (the default) or by page. A cursor contains the sort key and the
number of the last ticket returned, so new tickets do not shift the pages of a client that
walks the list. Pages are offsets, simpler for a UI that jumps to page 7.

NOTE: with `sort=updated_at`, a ticket changed during the walk moves in the order, so it
may appear twice or not at all, as in any keyset pagination over a mutable key.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import Forbidden, InvalidInput, Principal
from ticketcloud.api_support import MAX_ROW_ID
from ticketcloud.checks import TAG_PATTERN, check_choice, check_id
from ticketcloud.models import Priority, Ticket
from ticketcloud.search import text_condition
from ticketcloud.status import Status, check_status
from ticketcloud.views import CUSTOMER_STATUS

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
MAX_QUERY = 200
SORT_FIELDS = ("created_at", "updated_at", "priority", "number")
FILTERS = ("status", "priority", "team", "assignee", "category", "tag", "q")
# Filters on what customers never see of their own tickets.
AGENT_FILTERS = frozenset({"priority", "team", "assignee", "category", "tag"})
PARAMETERS = (*FILTERS, "sort", "order", "cursor", "page", "per_page")

_PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


@dataclass(frozen=True)
class TicketQuery:
    """A checked ticket list request."""

    statuses: tuple[Status, ...] = ()
    priority: Priority | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    category_id: int | None = None
    tag: str | None = None
    text: str | None = None
    sort: str = "created_at"
    order: Literal["asc", "desc"] = "desc"
    per_page: int = DEFAULT_PER_PAGE
    page: int | None = None
    after: tuple[Any, int] | None = None


@dataclass(frozen=True)
class TicketPage:
    tickets: list[Ticket]
    # The query parameters that fetch the next page, or None on the last page.
    next_params: dict[str, str] | None


def check_ticket_query(params: dict[str, str], who: Principal, *,
                       customer: bool) -> TicketQuery:
    """Return the list parameters checked; `assignee=me` means the caller."""
    if customer:
        for name in AGENT_FILTERS & set(params):
            raise Forbidden(f"Customers cannot filter by {name}; remove the parameter.",
                            field=name)
    sort = params.get("sort", "created_at")
    if sort not in SORT_FIELDS:
        raise InvalidInput(f"Invalid sort {sort!r}: choose one of {', '.join(SORT_FIELDS)}.",
                           field="sort")
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidInput(f"Invalid order {order!r}: choose asc or desc.", field="order")
    if "cursor" in params and "page" in params:
        raise InvalidInput("Send either cursor or page, not both.", field="cursor")
    return TicketQuery(
        statuses=_statuses(params.get("status"), customer=customer),
        priority=(check_choice(Priority, params["priority"], field="priority")
                  if "priority" in params else None),
        team_id=_id_param(params, "team"),
        assignee_id=who.user_id if params.get("assignee") == "me" else _id_param(
            params, "assignee"),
        category_id=_id_param(params, "category"),
        tag=_tag(params.get("tag")),
        text=_text(params.get("q")),
        sort=sort, order="asc" if order == "asc" else "desc",
        per_page=_positive(params.get("per_page"), "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE),
        page=_positive(params["page"], "page", 1, 10**9) if "page" in params else None,
        after=_decode_cursor(params["cursor"], sort, order) if "cursor" in params else None,
    )


async def search_tickets(session: AsyncSession, who: Principal, query: TicketQuery, *,
                         customer: bool) -> TicketPage:
    """Return one page of the tenant's tickets that match `query`. A customer gets only the
    tickets they requested, and their text search never looks into internal notes."""
    statement = select(Ticket).where(Ticket.tenant_id == who.tenant_id)
    if customer:
        statement = statement.where(
            (col(Ticket.requester_user_id) == who.user_id)
            | (col(Ticket.requester_email) == who.email.strip().lower()))
    dialect = session.get_bind().dialect.name
    for condition in _conditions(query, customer=customer, dialect=dialect):
        statement = statement.where(condition)

    key = _sort_key(query.sort)
    descending = query.order == "desc"
    if query.after is not None:
        value, number = query.after
        before = key < value if descending else key > value
        tie = col(Ticket.number) < number if descending else col(Ticket.number) > number
        statement = statement.where(before | ((key == value) & tie))
    statement = statement.order_by(key.desc() if descending else key.asc(),
                                   col(Ticket.number).desc() if descending
                                   else col(Ticket.number).asc())
    if query.page is not None:
        statement = statement.offset((query.page - 1) * query.per_page)
    rows = list((await session.exec(statement.limit(query.per_page + 1))).all())

    tickets = rows[:query.per_page]
    if len(rows) <= query.per_page:
        return TicketPage(tickets, None)
    if query.page is not None:
        return TicketPage(tickets, {"page": str(query.page + 1)})
    last = tickets[-1]
    return TicketPage(tickets, {"cursor": _encode_cursor(query, last)})


def _conditions(query: TicketQuery, *, customer: bool, dialect: str) -> list[Any]:
    conditions: list[Any] = []
    if query.statuses:
        conditions.append(col(Ticket.status).in_(list(query.statuses)))
    if query.priority is not None:
        conditions.append(col(Ticket.priority) == query.priority)
    if query.team_id is not None:
        conditions.append(col(Ticket.team_id) == query.team_id)
    if query.assignee_id is not None:
        conditions.append(col(Ticket.assignee_id) == query.assignee_id)
    if query.category_id is not None:
        conditions.append(col(Ticket.category_id) == query.category_id)
    if query.tag is not None:
        # Tags match TAG_PATTERN, so the quoted tag occurs in the JSON text only as a tag.
        conditions.append(sa.cast(Ticket.tags, sa.Text).like(f'%"{query.tag}"%'))
    if query.text is not None:
        conditions.append(text_condition(query.text, customer=customer, dialect=dialect))
    return conditions


def _sort_key(sort: str) -> Any:
    if sort == "priority":
        return sa.case({priority.value: rank for priority, rank in _PRIORITY_RANK.items()},
                       value=col(Ticket.priority))
    return col(getattr(Ticket, sort))


def _sort_value(ticket: Ticket, sort: str) -> Any:
    if sort == "priority":
        return _PRIORITY_RANK[ticket.priority]
    value = getattr(ticket, sort)
    return value.isoformat() if isinstance(value, datetime) else value


def _encode_cursor(query: TicketQuery, last: Ticket) -> str:
    data = {"s": query.sort, "o": query.order, "v": _sort_value(last, query.sort),
            "n": last.number}
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str, order: str) -> tuple[Any, int]:
    invalid = InvalidInput(f"Invalid cursor {cursor[:80]!r}: use the next link of the "
                           "previous page, with the same sort and order.", field="cursor")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise invalid from None
    number = data.get("n") if isinstance(data, dict) else None
    if (not isinstance(data, dict) or data.get("s") != sort or data.get("o") != order
            or isinstance(number, bool) or not isinstance(number, int)
            or not 0 < number <= MAX_ROW_ID):
        raise invalid
    value = data.get("v")
    if sort in ("created_at", "updated_at"):
        try:
            value = datetime.fromisoformat(str(value))
        except ValueError:
            raise invalid from None
        if value.tzinfo is None:
            raise invalid
    elif isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_ROW_ID:
        raise invalid
    return value, int(data["n"])


def _statuses(value: str | None, *, customer: bool) -> tuple[Status, ...]:
    """Return the statuses of a comma-separated list. A customer names the statuses of
    the public view, where open also covers new and on hold."""
    if value is None:
        return ()
    names = [item.strip() for item in value.split(",") if item.strip()]
    if not customer:
        return tuple(check_status(name) for name in names)
    public = sorted(set(CUSTOMER_STATUS.values()))
    for name in names:
        if name not in public:
            raise InvalidInput(f"Invalid status {name!r}: choose one of {', '.join(public)}.",
                               field="status")
    return tuple(status for status, shown in CUSTOMER_STATUS.items() if shown in names)


def _id_param(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise InvalidInput(f"Invalid {name} {value!r}: expected a positive integer id"
                           f"{' or me' if name == 'assignee' else ''}.", field=name)
    return check_id(int(value), field=name)


def _tag(value: str | None) -> str | None:
    if value is None:
        return None
    tag = value.strip().lower()
    if not TAG_PATTERN.match(tag):
        raise InvalidInput(f"Invalid tag {value!r}: use lowercase letters, digits, '-' and "
                           "'_'.", field="tag")
    return tag


def _text(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    if len(value) > MAX_QUERY:
        raise InvalidInput(f"The search text is {len(value)} characters; the maximum is "
                           f"{MAX_QUERY}.", field="q")
    return value.strip()


def _positive(value: str | None, name: str, default: int, maximum: int) -> int:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= maximum:
        raise InvalidInput(f"Invalid {name} {value!r}: use a whole number from 1 to "
                           f"{maximum}.", field=name)
    return int(value)
