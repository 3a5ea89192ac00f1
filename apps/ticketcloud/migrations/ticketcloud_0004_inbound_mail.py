"""Reserved and empty: threading tables came in ticketcloud_0006.

Revision ID: ticketcloud_0004
Revises: ticketcloud_0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = 'ticketcloud_0004'
down_revision: str | Sequence[str] | None = 'ticketcloud_0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
