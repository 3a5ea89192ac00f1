"""Add the outgoing mail outbox and per-tenant relay settings.

Revision ID: portal_0002
Revises: portal_0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = 'portal_0002'
down_revision: str | Sequence[str] | None = 'portal_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
