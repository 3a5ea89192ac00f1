"""Drop `ticketcloud_mail_auto_reply`, which counted confirmations per address for the
limit on automatic replies. The limit now counts in the portal's `portal_rate_limit`
(`AppContext.hit_rate_limit`), which counts a hit in one atomic statement.

The counts in the dropped table are lost, so after the upgrade every address may get
MAX_AUTO_REPLIES confirmations again at once. A downgrade recreates the table and its
indexes as ticketcloud_0006 created them, empty.

Revision ID: ticketcloud_0015
Revises: ticketcloud_0014
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ticketcloud_0015"
down_revision: str | Sequence[str] | None = "ticketcloud_0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "ticketcloud_mail_auto_reply"


def upgrade() -> None:
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticketcloud_mail_auto_reply_tenant_id"))
        batch_op.drop_index("ix_ticketcloud_mail_auto_reply_email")

    op.drop_table(_TABLE)


def downgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["portal_tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        batch_op.create_index(
            "ix_ticketcloud_mail_auto_reply_email",
            ["tenant_id", "email", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_ticketcloud_mail_auto_reply_tenant_id"), ["tenant_id"], unique=False
        )
