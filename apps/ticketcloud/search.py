"""Full-text search over tickets: subjects, public messages and internal notes.

On SQLite the search runs on the FTS5 table `ticketcloud_search`, one row per ticket,
kept current by triggers (see migration ticketcloud_0003). Other databases fall back to
a LIKE scan until they get their own text search.

What users type is never passed to FTS5 as query syntax: `match_expression` splits it
into words, quotes each one, and requires all of them, each as a prefix: "invoice" finds
"invoices", and "invo" finds what is being typed.
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

_search_table = sa.table("ticketcloud_search", sa.column("rowid", sa.Integer))


def match_expression(text: str, *, customer: bool) -> str:
    """Return the FTS5 query for `text`: every word required, as a prefix.

    Raises InvalidInput when `text` contains no word or too many."""
    words = _WORD.findall(text)
    if not words:
        raise InvalidInput(f"Search text {text[:80]!r} contains no letters or digits; "
                           "search for a word or a number.", field="q")
    if len(words) > MAX_WORDS:
        raise InvalidInput(f"Search text has {len(words)} words; use at most {MAX_WORDS}.",
                           field="q")
    expression = " AND ".join(f'"{word}"*' for word in words)
    return f"{_CUSTOMER_COLUMNS} : ({expression})" if customer else expression


def text_condition(text: str, *, customer: bool, dialect: str) -> Any:
    """Return a WHERE condition on Ticket that holds for tickets matching `text`."""
    if dialect == "sqlite":
        matches = (sa.select(_search_table.c.rowid)
                   .where(sa.text("ticketcloud_search MATCH :search_query")
                          .bindparams(search_query=match_expression(text, customer=customer))))
        return col(Ticket.id).in_(matches)
    return _like_condition(text, customer=customer)


def _like_condition(text: str, *, customer: bool) -> Any:
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    messages = select(Message.ticket_id).where(col(Message.body).like(pattern, escape="\\"))
    if customer:
        messages = messages.where(Message.visibility == Visibility.PUBLIC)
    return (col(Ticket.subject).like(pattern, escape="\\")
            | col(Ticket.id).in_(messages))
