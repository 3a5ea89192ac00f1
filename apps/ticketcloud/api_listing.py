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
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import Forbidden, InvalidInput, Principal, utcnow
from ticketcloud.api_support import MAX_ROW_ID
from ticketcloud.checks import TAG_PATTERN, check_choice, check_id
from ticketcloud.models import Priority, TeamMember, Ticket
from ticketcloud.search import search_match, search_rowid, search_table, text_condition
from ticketcloud.sla.listing import SlaFilter, check_sla_filter, sla_condition
from ticketcloud.status import Status, check_status
from ticketcloud.views import CUSTOMER_STATUS

DEFAULT_PER_PAGE = 25
# The team ids one `team` filter may list.
MAX_TEAMS = 50
MAX_PER_PAGE = 100
MAX_QUERY = 200
SORT_FIELDS = ("created_at", "updated_at", "priority", "number")
FILTERS = ("status", "priority", "team", "assignee", "category", "tag", "q", "sla")
# Filters on what customers never see of their own tickets.
AGENT_FILTERS = frozenset({"priority", "team", "assignee", "category", "tag", "sla"})
PARAMETERS = (*FILTERS, "sort", "order", "cursor", "page", "per_page")

_PRIORITY_RANK = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


@dataclass(frozen=True)
class TicketQuery:
    """A checked ticket list request."""

    statuses: tuple[Status, ...] = ()
    priority: Priority | None = None
    # Tickets of any team listed, or of any team that `teams_of_user` belongs to.
    team_ids: tuple[int, ...] = ()
    teams_of_user: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    category_id: int | None = None
    tag: str | None = None
    text: str | None = None
    sla: SlaFilter | None = None
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
    """Return the list parameters checked. `assignee` is a user id, `me` (the caller) or
    `none` (unassigned); `team` is comma-separated team ids and `mine` (the caller's
    teams), and a ticket of any of them matches."""
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
        team_ids=_team_ids(params.get("team")),
        teams_of_user=who.user_id if "mine" in _team_words(params.get("team")) else None,
        assignee_id=None if params.get("assignee") == "none" else (
            who.user_id if params.get("assignee") == "me" else _id_param(params, "assignee")),
        unassigned=params.get("assignee") == "none",
        category_id=_id_param(params, "category"),
        tag=_tag(params.get("tag")),
        text=_text(params.get("q")),
        sla=check_sla_filter(params.get("sla")),
        sort=sort, order="asc" if order == "asc" else "desc",
        per_page=_positive(params.get("per_page"), "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE),
        page=_positive(params["page"], "page", 1, 10**9) if "page" in params else None,
        after=_decode_cursor(params["cursor"], sort, order) if "cursor" in params else None,
    )


async def search_tickets(session: AsyncSession, who: Principal, query: TicketQuery, *,
                         customer: bool) -> TicketPage:
    """Return one page of the tenant's tickets that match `query`. A customer gets only the
    tickets they requested, and their text search never looks into internal notes.

    How a page stays fast with a million tickets in the workspace:

    - Without search text, the statuses asked for (all six when none is) are read one
      by one from an index led by (tenant, status, sort key, number), each list cut at
      the page's end, and the short lists are merged (`_merged_by_status`). One status
      list alone never needs sorting, while an IN over several statuses sorts every
      matching row before it can return the first page.
    - With search text on SQLite, tickets come from the FTS5 index in rowid order, which
      is ticket-number order within a workspace; a page stops reading after its last
      ticket (`_text_page`). For `sort=created_at` this is the same order for every ticket
      created here, so created_at sorts by number when there is search text.
    """
    dialect = session.get_bind().dialect.name
    conditions: list[Any] = [col(Ticket.tenant_id) == who.tenant_id]
    if customer:
        conditions.append(
            (col(Ticket.requester_user_id) == who.user_id)
            | (col(Ticket.requester_email) == who.email.strip().lower()))
    if query.sla is not None:
        conditions.append(sla_condition(query.sla, who.tenant_id, utcnow()))
    searching = (query.text is not None and dialect == "sqlite"
                 and query.sort in ("created_at", "number"))
    conditions += _conditions(query, tenant_id=who.tenant_id, customer=customer,
                              dialect=dialect,
                              with_statuses=searching, with_text=not searching)

    key = _sort_key(query.sort)
    descending = query.order == "desc"
    if query.after is not None and not searching:
        value, number = query.after
        before = key < value if descending else key > value
        tie = col(Ticket.number) < number if descending else col(Ticket.number) > number
        conditions.append(before | ((key == value) & tie))
    skip = (query.page - 1) * query.per_page if query.page is not None else 0
    take = query.per_page + 1
    if searching:
        assert query.text is not None
        rows = await _text_page(session, who.tenant_id, query, conditions,
                                customer=customer, skip=skip, take=take)
    else:
        rows = await _merged_by_status(session, query, conditions, key, skip=skip, take=take)

    tickets = rows[:query.per_page]
    if len(rows) <= query.per_page:
        return TicketPage(tickets, None)
    if query.page is not None:
        return TicketPage(tickets, {"page": str(query.page + 1)})
    last = tickets[-1]
    return TicketPage(tickets, {"cursor": _encode_cursor(query, last)})


async def _merged_by_status(session: AsyncSession, query: TicketQuery, conditions: list[Any],
                            key: Any, *, skip: int, take: int) -> list[Ticket]:
    descending = query.order == "desc"

    def ordered(sort_key: Any, number: Any) -> list[Any]:
        return ([sort_key.desc(), number.desc()] if descending
                else [sort_key.asc(), number.asc()])

    statuses = query.statuses or tuple(Status)
    # Priority sorts by a rank computed from the column, which no index holds, so each
    # status is split by priority too: within one (status, priority) the order is the
    # ticket number, which the index has.
    priorities: tuple[Priority | None, ...] = (
        (query.priority,) if query.priority is not None
        else tuple(Priority)) if query.sort == "priority" else (None,)
    parts = []
    for status in statuses:
        for priority in priorities:
            part: Any = (select(col(Ticket.id).label("id"), key.label("sort_key"),
                                col(Ticket.number).label("number"))
                    .where(*conditions, col(Ticket.status) == status))
            if priority is None:
                part = part.order_by(*ordered(key, col(Ticket.number)))
            else:
                # The rank is the same for the whole part; ordering by it too would
                # hide from SQLite that the index already gives the order.
                part = part.where(col(Ticket.priority) == priority).order_by(
                    col(Ticket.number).desc() if descending else col(Ticket.number).asc())
            parts.append(part.limit(skip + take).subquery())
    if len(parts) == 1:
        merged = parts[0]
    else:
        merged = sa.union_all(*(sa.select(part) for part in parts)).subquery()
    statement = (select(Ticket).join(merged, col(Ticket.id) == merged.c.id)
                 .order_by(*ordered(merged.c.sort_key, merged.c.number))
                 .offset(skip).limit(take))
    return list((await session.exec(statement)).all())


async def _text_page(session: AsyncSession, tenant_id: int, query: TicketQuery,
                     conditions: list[Any], *, customer: bool, skip: int,
                     take: int) -> list[Ticket]:
    assert query.text is not None
    descending = query.order == "desc"
    rowid = search_rowid()
    statement = (select(Ticket).join_from(search_table(), Ticket, col(Ticket.id) == rowid)
                 .where(search_match(query.text, customer=customer, tenant_id=tenant_id),
                        *conditions)
                 .order_by(rowid.desc() if descending else rowid.asc())
                 .offset(skip).limit(take))
    if query.after is not None:
        # Ticket numbers grow with ticket ids in a workspace, so the cursor's number
        # translates to a rowid bound that FTS5 applies while reading its index.
        _, number = query.after
        last = aliased(Ticket)
        last_id = (select(last.id).where(last.tenant_id == tenant_id, last.number == number)
                   .scalar_subquery())
        statement = statement.where(rowid < last_id if descending else rowid > last_id)
    return list((await session.exec(statement)).all())


def _conditions(query: TicketQuery, *, tenant_id: int, customer: bool, dialect: str,
                with_statuses: bool, with_text: bool) -> list[Any]:
    conditions: list[Any] = []
    if query.statuses and with_statuses:
        conditions.append(col(Ticket.status).in_(list(query.statuses)))
    if query.priority is not None:
        conditions.append(col(Ticket.priority) == query.priority)
    teams: list[Any] = []
    if query.team_ids:
        teams.append(col(Ticket.team_id).in_(query.team_ids))
    if query.teams_of_user is not None:
        # A user belongs to one tenant, so these are teams of the caller's tenant only.
        teams.append(col(Ticket.team_id).in_(select(TeamMember.team_id).where(
            TeamMember.user_id == query.teams_of_user)))
    if teams:
        conditions.append(sa.or_(*teams))
    if query.assignee_id is not None:
        conditions.append(col(Ticket.assignee_id) == query.assignee_id)
    if query.unassigned:
        conditions.append(col(Ticket.assignee_id).is_(None))
    if query.category_id is not None:
        conditions.append(col(Ticket.category_id) == query.category_id)
    if query.tag is not None:
        # Tags match TAG_PATTERN, so the quoted tag occurs in the JSON text only as a tag.
        conditions.append(sa.cast(Ticket.tags, sa.Text).like(f'%"{query.tag}"%'))
    if query.text is not None and with_text:
        conditions.append(text_condition(query.text, customer=customer, dialect=dialect,
                                         tenant_id=tenant_id))
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
                           f"{', me or none' if name == 'assignee' else ''}.", field=name)
    return check_id(int(value), field=name)


def _team_words(value: str | None) -> list[str]:
    """Return the comma-separated words of the `team` parameter, each checked."""
    if value is None:
        return []
    words = [word.strip() for word in value.split(",")]
    if not words or len(words) > MAX_TEAMS:
        raise InvalidInput(f"Invalid team {value[:80]!r}: give 1 to {MAX_TEAMS} team ids "
                           "or mine, separated by commas.", field="team")
    for word in words:
        if word != "mine" and not (word.isascii() and word.isdigit() and 0 < len(word) <= 18
                                   and int(word) > 0):
            raise InvalidInput(f"Invalid team {word!r}: expected a positive integer team id "
                               "or mine.", field="team")
    return words


def _team_ids(value: str | None) -> tuple[int, ...]:
    return tuple(sorted({int(word) for word in _team_words(value) if word != "mine"}))


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
