"""Agent-set due times on tickets, and SLA warning points exact to the second.

- `ticketcloud_ticket.due_at`: the due time an agent set on a ticket ("due by"), in
  UTC, with the index `(tenant_id, due_at)` for the ticket list's `sla=overdue` filter.
- `ticketcloud_sla_target.warning_seconds` replaces `warning_minutes`, which rounded
  the warning share up to whole minutes (a 3-minute target at 50 % warned after 2
  minutes). Existing rows get the exact share of their policy's `warning_percent`,
  rounded up to the second, or `warning_minutes * 60` when the policy is gone. The
  stored `warn_at` of a running target is not recomputed here: it moves to the exact
  point the next time the clock restarts (a pause, a policy or calendar change).
  A downgrade rounds the seconds up to whole minutes, as the old code did.

Revision ID: ticketcloud_0014
Revises: ticketcloud_0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ticketcloud_0014"
down_revision: str | Sequence[str] | None = "ticketcloud_0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TARGET = "ticketcloud_sla_target"
_POLICY = "ticketcloud_sla_policy"
_TICKET = "ticketcloud_ticket"
_TICKET_INDEX = "ix_ticketcloud_ticket_due"

# Integer arithmetic on both SQLite and PostgreSQL: (x + 99) / 100 rounds x / 100 up.
_EXACT_WARNING = (
    f"warning_seconds = COALESCE((SELECT ({_TARGET}.target_minutes * 60 * "
    f"{_POLICY}.warning_percent + 99) / 100 FROM {_POLICY} "
    f"WHERE {_POLICY}.id = {_TARGET}.policy_id), warning_minutes * 60)"
)


def upgrade() -> None:
    with op.batch_alter_table(_TICKET, schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(_TICKET_INDEX, ["tenant_id", "due_at"], unique=False)
    _replace_column("warning_minutes", "warning_seconds", _EXACT_WARNING)


def downgrade() -> None:
    _replace_column(
        "warning_seconds", "warning_minutes", "warning_minutes = (warning_seconds + 59) / 60"
    )
    # Not in batch mode: rebuilding the ticket table on SQLite would drop a table that
    # messages and targets reference. SQLite 3.35 and later drop the column in place.
    op.drop_index(_TICKET_INDEX, table_name=_TICKET)
    op.drop_column(_TICKET, "due_at")


def _replace_column(old: str, new: str, assignment: str) -> None:
    """Add the column `new`, fill it with the UPDATE `assignment` from `old`, make it
    NOT NULL and drop `old` (batch mode rebuilds the table on SQLite)."""
    op.add_column(_TARGET, sa.Column(new, sa.Integer(), nullable=True))
    op.execute(f"UPDATE {_TARGET} SET {assignment}")
    with op.batch_alter_table(_TARGET, schema=None) as batch_op:
        batch_op.alter_column(new, existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column(old)
