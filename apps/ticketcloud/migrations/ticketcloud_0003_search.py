"""Add the full-text search index over tickets and messages.

Revision ID: ticketcloud_0003
Revises: ticketcloud_0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = 'ticketcloud_0003'
down_revision: str | Sequence[str] | None = 'ticketcloud_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
