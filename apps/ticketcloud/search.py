"""Full-text search over tickets: subjects, public messages and internal notes.

On SQLite the search runs on the FTS5 table `ticketcloud_search`, one row per ticket,
kept current by triggers (see migration ticketcloud_0003). On PostgreSQL a table of the
same name stores two tsvector documents per ticket, one without internal notes for
customers (migration ticketcloud_0011). Other databases fall back to a LIKE scan.

What users type is never passed to FTS5 or to_tsquery as query syntax: the text is split
into words, each one quoted, and all of them are required, each as a prefix: "invoice"
finds "invoices", and "invo" finds what is being typed.
"""

from __future__ import annotations

from typing import Any

import regex
import sqlalchemy as sa
from sqlmodel import col, select

from portal.sdk import InvalidInput
from ticketcloud.models import Message, Ticket, Visibility

# Letters, digits and marks, as FTS5's unicode61 tokenizer splits them; "_" and other
# punctuation separate words there too.
_WORD = regex.compile(r"[\p{L}\p{N}\p{M}]+")
MAX_WORDS = 12
# Customers search their own words and the agents' public replies, never internal notes.
_CUSTOMER_COLUMNS = "{subject public_text}"
_AGENT_COLUMNS = "{subject public_text internal_text}"

_search_table = sa.table("ticketcloud_search", sa.column("rowid", sa.Integer))
_pg_search_table = sa.table("ticketcloud_search", sa.column("ticket_id", sa.Integer),
                            sa.column("customer_document"), sa.column("agent_document"))


def search_words(text: str) -> list[str]:
    """Return the words of `text`.

    Raises InvalidInput when `text` contains no word or too many."""
    words: list[str] = _WORD.findall(text)
    if not words:
        raise InvalidInput(f"Search text {text[:80]!r} contains no letters or digits; "
                           "search for a word or a number.", field="q")
    if len(words) > MAX_WORDS:
        raise InvalidInput(f"Search text has {len(words)} words; use at most {MAX_WORDS}.",
                           field="q")
    return words


def match_expression(text: str, *, customer: bool, tenant_id: int) -> str:
    """Return the FTS5 query for `text` in the tenant's tickets: every word required, as
    a prefix.

    The `tenant` column holds one token per ticket, such as "t17". Requiring it lets
    FTS5 skip other tenants' matches while it reads the index, so a small workspace's
    search does not walk through a large one's results."""
    expression = " AND ".join(f'"{word}"*' for word in search_words(text))
    columns = _CUSTOMER_COLUMNS if customer else _AGENT_COLUMNS
    return f'tenant : "t{tenant_id}" AND {columns} : ({expression})'


def tsquery_expression(text: str) -> str:
    """Return the to_tsquery input for `text`: every word required, as a prefix.

    The words hold only letters, digits and marks, so quoting them in single quotes
    leaves no tsquery operator in them."""
    return " & ".join(f"'{word}':*" for word in search_words(text))


def search_table() -> Any:
    """Return the FTS5 table, to join to tickets on `search_rowid() == Ticket.id`."""
    return _search_table


def search_rowid() -> Any:
    return _search_table.c.rowid


def search_match(text: str, *, customer: bool, tenant_id: int) -> Any:
    """Return the MATCH condition on the FTS5 table for `text` in the tenant's tickets."""
    return sa.text("ticketcloud_search MATCH :search_query").bindparams(
        search_query=match_expression(text, customer=customer, tenant_id=tenant_id))


def text_condition(text: str, *, customer: bool, dialect: str, tenant_id: int) -> Any:
    """Return a WHERE condition on Ticket that holds for tickets matching `text`."""
    if dialect == "sqlite":
        matches = sa.select(_search_table.c.rowid).where(
            search_match(text, customer=customer, tenant_id=tenant_id))
        return col(Ticket.id).in_(matches)
    if dialect == "postgresql":
        document = (_pg_search_table.c.customer_document if customer
                    else _pg_search_table.c.agent_document)
        query = sa.func.to_tsquery(sa.literal_column("'ticketcloud_words'"),
                                   tsquery_expression(text))
        matches = sa.select(_pg_search_table.c.ticket_id).where(document.op("@@")(query))
        return col(Ticket.id).in_(matches)
    return _like_condition(text, customer=customer)


def _like_condition(text: str, *, customer: bool) -> Any:
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    messages = select(Message.ticket_id).where(col(Message.body).like(pattern, escape="\\"))
    if customer:
        messages = messages.where(Message.visibility == Visibility.PUBLIC)
    return (col(Ticket.subject).like(pattern, escape="\\")
            | col(Ticket.id).in_(messages))
