"""Alert agents once when a ticket passes the due time an agent set on it.

- `ticketcloud_ticket.due_alerted`: set by the SLA scan job once it published
  `ticketcloud.ticket.due` for the ticket's current `due_at`; changing or clearing the
  due time clears it. Existing rows get false through the server default, except those
  whose due time had already passed at the upgrade: they get true, so that upgrading
  does not send a burst of late reminders for tickets the Overdue view already lists.
- `ix_ticketcloud_ticket_due_alert (due_alerted, status, due_at)`: the scan job's
  query across tenants reads only unresolved tickets not yet alerted whose due time
  passed. A ticket solved or closed before its due time keeps the flag false but sits
  in another status range of the index, so no pass reads it again.

Not in batch mode: rebuilding the ticket table on SQLite would drop a table that
messages and targets reference. SQLite adds and (3.35 and later) drops the column in
place.

Revision ID: ticketcloud_0018
Revises: ticketcloud_0017
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ticketcloud_0018"
down_revision: str | Sequence[str] | None = "ticketcloud_0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TICKET = "ticketcloud_ticket"
_INDEX = "ix_ticketcloud_ticket_due_alert"


def upgrade() -> None:
    op.add_column(_TICKET, sa.Column("due_alerted", sa.Boolean(), nullable=False,
                                     server_default=sa.false()))
    # Both sides are UTC: a timestamptz on PostgreSQL, and on SQLite the naive UTC text
    # "YYYY-MM-DD HH:MM:SS..." that CURRENT_TIMESTAMP also returns.
    ticket = sa.table(_TICKET, sa.column("due_alerted", sa.Boolean()),
                      sa.column("due_at", sa.DateTime(timezone=True)))
    op.execute(ticket.update().where(ticket.c.due_at <= sa.func.current_timestamp())
               .values(due_alerted=sa.true()))
    op.create_index(_INDEX, _TICKET, ["due_alerted", "status", "due_at"], unique=False)


def downgrade() -> None:
    op.drop_index(_INDEX, table_name=_TICKET)
    op.drop_column(_TICKET, "due_alerted")
