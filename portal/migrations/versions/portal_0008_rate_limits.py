"""Add rate limit windows shared by portal processes, and drop the per-attempt tables
that sign-in throttling used before.

The dropped tables stored raw client addresses and only the last 15 minutes of them
counted, so their rows are not carried over: throttling starts from zero at the upgrade.

Revision ID: portal_0008
Revises: portal_0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "portal_0008"
down_revision: str | Sequence[str] | None = "portal_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables of per-attempt throttling, as portal_0001 and portal_0002 created them.
_ATTEMPT_TABLES = (
    ("portal_login_attempt", "attempted_at", "ix_portal_login_attempt"),
    ("portal_signin_link_request", "requested_at", "ix_portal_signin_link_request"),
)


def upgrade() -> None:
    op.create_table(
        "portal_rate_limit",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start"),
    )
    op.create_index(
        "ix_portal_rate_limit_expires_at", "portal_rate_limit", ["expires_at"], unique=False
    )
    for table, _, index_prefix in _ATTEMPT_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"{index_prefix}_address")
            batch_op.drop_index(f"{index_prefix}_account")
        op.drop_table(table)


def downgrade() -> None:
    for table, time_column, index_prefix in _ATTEMPT_TABLES:
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("account_key", sa.String(length=64), nullable=False),
            sa.Column("client_address", sa.String(length=64), nullable=False),
            sa.Column(time_column, sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(
                f"{index_prefix}_account", ["account_key", time_column], unique=False
            )
            batch_op.create_index(
                f"{index_prefix}_address", ["client_address", time_column], unique=False
            )
    op.drop_index("ix_portal_rate_limit_expires_at", table_name="portal_rate_limit")
    op.drop_table("portal_rate_limit")
