"""Create the row table.

Revision ID: bench_bare_0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "bench_bare_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("bench_bare",)
# The rows belong to tenants, so the portal's tables come first.
depends_on: str | Sequence[str] | None = "portal_0001"


def upgrade() -> None:
    op.create_table(
        "bench_bare_row",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("portal_tenant.id"), nullable=False,
                  index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bench_bare_row")
