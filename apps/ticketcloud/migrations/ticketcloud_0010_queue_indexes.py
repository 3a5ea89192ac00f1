"""Index tickets for the first page of every queue view.

A queue page asks for the newest tickets of some statuses. The listing reads each status
on its own, newest first, from an index that starts with (tenant, status) and continues
with the sort key and the ticket number, and merges the short lists (see
ticketcloud/api_listing.py). These indexes replace the one on (tenant, status) alone,
which is a prefix of each.

Revision ID: ticketcloud_0010
Revises: ticketcloud_0009
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = 'ticketcloud_0010'
down_revision: str | Sequence[str] | None = 'ticketcloud_0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    'ix_ticketcloud_ticket_queue_created': ['tenant_id', 'status', 'created_at', 'number'],
    'ix_ticketcloud_ticket_queue_updated': ['tenant_id', 'status', 'updated_at', 'number'],
    'ix_ticketcloud_ticket_queue_priority': ['tenant_id', 'status', 'priority', 'number'],
}


def upgrade() -> None:
    with op.batch_alter_table('ticketcloud_ticket', schema=None) as batch_op:
        for name, columns in _INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
        batch_op.drop_index('ix_ticketcloud_ticket_status')


def downgrade() -> None:
    with op.batch_alter_table('ticketcloud_ticket', schema=None) as batch_op:
        batch_op.create_index('ix_ticketcloud_ticket_status', ['tenant_id', 'status'],
                              unique=False)
        for name in _INDEXES:
            batch_op.drop_index(name)
