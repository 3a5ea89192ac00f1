"""Add PostgreSQL's own full-text search over tickets and messages.

On PostgreSQL, `ticketcloud_search` has one row per ticket with two tsvector documents:
`customer_document` holds the subject and the public messages, `agent_document` also
the internal notes, so a customer's search can never match an internal note. GIN
indexes serve the `@@` match. Triggers keep the rows current in the transaction that
creates a ticket, changes its subject or adds a message; the foreign key deletes the
row with its ticket.

Words are made as SQLite's unicode61 tokenizer makes them: `ticketcloud_search_words`
turns ASCII punctuation into spaces (so "A-1042" gives "a" and "1042", and an e-mail
address its parts), and the `ticketcloud_words` configuration lowercases and removes
diacritics (the unaccent extension, which PostgreSQL 13 and later let a database owner
install) without stemming, because searches match words by prefix.

SQLite keeps its FTS5 table from ticketcloud_0003, so this revision changes nothing
there.

Revision ID: ticketcloud_0011
Revises: ticketcloud_0010
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = 'ticketcloud_0011'
down_revision: str | Sequence[str] | None = 'ticketcloud_0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_POSTGRESQL_UPGRADE = (
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH CONFIGURATION ticketcloud_words (COPY = simple)",
    """ALTER TEXT SEARCH CONFIGURATION ticketcloud_words
       ALTER MAPPING FOR asciiword, word, numword, hword_part, hword_asciipart,
                         hword_numpart, asciihword, hword, numhword
       WITH unaccent, simple""",
    """CREATE FUNCTION ticketcloud_search_words(body text) RETURNS tsvector
       LANGUAGE sql IMMUTABLE AS $$
       SELECT to_tsvector('ticketcloud_words', regexp_replace(body, '[[:punct:]]+', ' ', 'g'))
       $$""",
    """CREATE TABLE ticketcloud_search (
        ticket_id integer PRIMARY KEY
            REFERENCES ticketcloud_ticket (id) ON DELETE CASCADE,
        customer_document tsvector NOT NULL,
        agent_document tsvector NOT NULL)""",
    "CREATE INDEX ix_ticketcloud_search_customer ON ticketcloud_search "
    "USING gin (customer_document)",
    "CREATE INDEX ix_ticketcloud_search_agent ON ticketcloud_search "
    "USING gin (agent_document)",
    # Rebuilds one ticket's row from its subject and messages, in message order.
    """CREATE FUNCTION ticketcloud_search_rebuild(ticket integer) RETURNS void
       LANGUAGE sql AS $$
       INSERT INTO ticketcloud_search (ticket_id, customer_document, agent_document)
       SELECT t.id, documents.customer, documents.customer || documents.internal
       FROM ticketcloud_ticket t,
            LATERAL (SELECT
                ticketcloud_search_words(t.subject) || ticketcloud_search_words(coalesce(
                    (SELECT string_agg(m.body, E'\\n' ORDER BY m.id)
                     FROM ticketcloud_message m
                     WHERE m.ticket_id = t.id AND m.visibility = 'public'), ''))
                    AS customer,
                ticketcloud_search_words(coalesce(
                    (SELECT string_agg(m.body, E'\\n' ORDER BY m.id)
                     FROM ticketcloud_message m
                     WHERE m.ticket_id = t.id AND m.visibility = 'internal'), ''))
                    AS internal) AS documents
       WHERE t.id = ticket
       ON CONFLICT (ticket_id) DO UPDATE
       SET customer_document = excluded.customer_document,
           agent_document = excluded.agent_document
       $$""",
    """CREATE FUNCTION ticketcloud_search_ticket_changed() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
           PERFORM ticketcloud_search_rebuild(new.id);
           RETURN NULL;
       END
       $$""",
    # A message only adds words, so its text is appended instead of rebuilding the row.
    """CREATE FUNCTION ticketcloud_search_message_added() RETURNS trigger
       LANGUAGE plpgsql AS $$
       DECLARE
           words tsvector := ticketcloud_search_words(new.body);
       BEGIN
           IF new.visibility = 'public' THEN
               UPDATE ticketcloud_search
               SET customer_document = customer_document || words,
                   agent_document = agent_document || words
               WHERE ticket_id = new.ticket_id;
           ELSE
               UPDATE ticketcloud_search
               SET agent_document = agent_document || words
               WHERE ticket_id = new.ticket_id;
           END IF;
           RETURN NULL;
       END
       $$""",
    """CREATE TRIGGER ticketcloud_search_ticket_insert
       AFTER INSERT ON ticketcloud_ticket
       FOR EACH ROW EXECUTE FUNCTION ticketcloud_search_ticket_changed()""",
    """CREATE TRIGGER ticketcloud_search_ticket_subject
       AFTER UPDATE OF subject ON ticketcloud_ticket
       FOR EACH ROW WHEN (new.subject IS DISTINCT FROM old.subject)
       EXECUTE FUNCTION ticketcloud_search_ticket_changed()""",
    """CREATE TRIGGER ticketcloud_search_message_insert
       AFTER INSERT ON ticketcloud_message
       FOR EACH ROW EXECUTE FUNCTION ticketcloud_search_message_added()""",
    "SELECT ticketcloud_search_rebuild(id) FROM ticketcloud_ticket",
)

_POSTGRESQL_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS ticketcloud_search_message_insert ON ticketcloud_message",
    "DROP TRIGGER IF EXISTS ticketcloud_search_ticket_subject ON ticketcloud_ticket",
    "DROP TRIGGER IF EXISTS ticketcloud_search_ticket_insert ON ticketcloud_ticket",
    "DROP FUNCTION IF EXISTS ticketcloud_search_message_added()",
    "DROP FUNCTION IF EXISTS ticketcloud_search_ticket_changed()",
    "DROP FUNCTION IF EXISTS ticketcloud_search_rebuild(integer)",
    "DROP TABLE IF EXISTS ticketcloud_search",
    "DROP FUNCTION IF EXISTS ticketcloud_search_words(text)",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS ticketcloud_words",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for statement in _POSTGRESQL_UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for statement in _POSTGRESQL_DOWNGRADE:
        op.execute(statement)
