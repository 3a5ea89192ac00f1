"""Add the full-text search index over tickets and messages.

On SQLite, `ticketcloud_search` is an FTS5 table with one row per ticket (rowid = the
ticket's id): a token naming the tenant ("t17"), the subject, the text of its public
messages and the text of its internal notes, in separate columns so that a customer's
search can leave internal notes out. Searches require the tenant's token, so FTS5 skips
other tenants' rows while it reads the index.
Triggers keep it current in the transaction that changes a ticket or adds a message, so
no code path can forget it. Searches match words by prefix ("invoice" finds "invoices"),
so there is no stemmer: a stemmer changes the prefix too ("pay" becomes "pai" under
Porter's rules and no longer finds "payment"). Prefix indexes of 2 and 3 characters
keep short prefixes fast.

Revision ID: ticketcloud_0003
Revises: ticketcloud_0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = 'ticketcloud_0003'
down_revision: str | Sequence[str] | None = 'ticketcloud_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_UPGRADE = (
    """CREATE VIRTUAL TABLE ticketcloud_search USING fts5(
        tenant, subject, public_text, internal_text,
        tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')""",
    """INSERT INTO ticketcloud_search (rowid, tenant, subject, public_text, internal_text)
       SELECT t.id, 't' || t.tenant_id, t.subject,
              coalesce((SELECT group_concat(m.body, char(10)) FROM ticketcloud_message m
                        WHERE m.ticket_id = t.id AND m.visibility = 'public'), ''),
              coalesce((SELECT group_concat(m.body, char(10)) FROM ticketcloud_message m
                        WHERE m.ticket_id = t.id AND m.visibility = 'internal'), '')
       FROM ticketcloud_ticket t""",
    """CREATE TRIGGER ticketcloud_search_ticket_insert AFTER INSERT ON ticketcloud_ticket
       BEGIN
           INSERT INTO ticketcloud_search (rowid, tenant, subject, public_text, internal_text)
           VALUES (new.id, 't' || new.tenant_id, new.subject, '', '');
       END""",
    """CREATE TRIGGER ticketcloud_search_ticket_subject
       AFTER UPDATE OF subject ON ticketcloud_ticket WHEN new.subject <> old.subject
       BEGIN
           UPDATE ticketcloud_search SET subject = new.subject WHERE rowid = new.id;
       END""",
    """CREATE TRIGGER ticketcloud_search_ticket_delete AFTER DELETE ON ticketcloud_ticket
       BEGIN
           DELETE FROM ticketcloud_search WHERE rowid = old.id;
       END""",
    """CREATE TRIGGER ticketcloud_search_public_message AFTER INSERT ON ticketcloud_message
       WHEN new.visibility = 'public'
       BEGIN
           UPDATE ticketcloud_search
           SET public_text = CASE public_text WHEN '' THEN new.body
                                  ELSE public_text || char(10) || new.body END
           WHERE rowid = new.ticket_id;
       END""",
    """CREATE TRIGGER ticketcloud_search_internal_message AFTER INSERT ON ticketcloud_message
       WHEN new.visibility = 'internal'
       BEGIN
           UPDATE ticketcloud_search
           SET internal_text = CASE internal_text WHEN '' THEN new.body
                                    ELSE internal_text || char(10) || new.body END
           WHERE rowid = new.ticket_id;
       END""",
)

_SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS ticketcloud_search_internal_message",
    "DROP TRIGGER IF EXISTS ticketcloud_search_public_message",
    "DROP TRIGGER IF EXISTS ticketcloud_search_ticket_delete",
    "DROP TRIGGER IF EXISTS ticketcloud_search_ticket_subject",
    "DROP TRIGGER IF EXISTS ticketcloud_search_ticket_insert",
    "DROP TABLE IF EXISTS ticketcloud_search",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        # PostgreSQL gets its own text search with the scale-out work; until then the
        # search falls back to LIKE there (see ticketcloud/search.py).
        return
    for statement in _SQLITE_UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for statement in _SQLITE_DOWNGRADE:
        op.execute(statement)
