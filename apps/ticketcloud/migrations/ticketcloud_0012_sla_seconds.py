"""Store the business time an SLA target consumed in seconds.

`consumed_minutes` held whole minutes, so every time a running target banked its run
(a pause, or a policy or calendar change) up to 59 seconds were dropped and its due time
moved later. `consumed_seconds` replaces it, and existing rows keep their value
(minutes times 60). A downgrade rounds the seconds down to whole minutes.

Revision ID: ticketcloud_0012
Revises: ticketcloud_0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ticketcloud_0012"
down_revision: str | Sequence[str] | None = "ticketcloud_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "ticketcloud_sla_target"


def upgrade() -> None:
    _replace_column(
        "consumed_minutes", "consumed_seconds", "consumed_seconds = consumed_minutes * 60"
    )


def downgrade() -> None:
    # Integer division on both SQLite and PostgreSQL, so partial minutes are dropped.
    _replace_column(
        "consumed_seconds", "consumed_minutes", "consumed_minutes = consumed_seconds / 60"
    )


def _replace_column(old: str, new: str, assignment: str) -> None:
    """Add the column `new`, fill it with the UPDATE `assignment` from `old`, make it
    NOT NULL and drop `old`. SQLite cannot make a column NOT NULL in place, so the last
    two steps rebuild the table in batch mode (PostgreSQL alters it directly)."""
    op.add_column(_TABLE, sa.Column(new, sa.Integer(), nullable=True))
    op.execute(f"UPDATE {_TABLE} SET {assignment}")
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        batch_op.alter_column(new, existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column(old)
