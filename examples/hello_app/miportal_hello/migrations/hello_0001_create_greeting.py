"""Create the greeting table.

Revision ID: hello_0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "hello_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("hello",)
# The greeting rows belong to tenants, so the portal's tables come first.
depends_on: str | Sequence[str] | None = "portal_0001"


def upgrade() -> None:
    op.create_table(
        "hello_greeting",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("portal_tenant.id"), nullable=False,
                  index=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("portal_user.id"), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hello_greeting")
