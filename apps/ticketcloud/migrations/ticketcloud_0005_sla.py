"""Add SLA calendars, policies and per-ticket targets.

Revision ID: ticketcloud_0005
Revises: ticketcloud_0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = 'ticketcloud_0005'
down_revision: str | Sequence[str] | None = 'ticketcloud_0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
