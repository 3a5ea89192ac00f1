"""Add `portal_mail_raw`, the raw bytes of stored inbound messages small enough to keep
in the database, committed in the transaction that stores the message's row.

Messages stored before this migration keep their files under `mail/inbound/`, and
processing reads a message's file when it has no row here.

Revision ID: portal_0011
Revises: portal_0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "portal_0011"
down_revision: str | Sequence[str] | None = "portal_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "portal_mail_raw",
        sa.Column("inbound_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["inbound_id"], ["portal_mail_inbound.id"],
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("inbound_id"),
    )


def downgrade() -> None:
    kept = op.get_bind().execute(sa.text("SELECT count(*) FROM portal_mail_raw")).scalar()
    if kept:
        # The data folder is unknown here, so the bytes cannot be written out as files.
        raise RuntimeError(f"portal_mail_raw holds the only copy of {kept} inbound "
                           "messages; downgrading would lose them. Stay on portal_0011.")
    op.drop_table("portal_mail_raw")
