"""Add SLA escalation actions per policy and the indexes of the overdue ticket views.

Revision ID: ticketcloud_0008
Revises: ticketcloud_0007
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ticketcloud_0008'
down_revision: str | Sequence[str] | None = 'ticketcloud_0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing policies keep the default behaviour: publish the breach, nothing more.
    with op.batch_alter_table('ticketcloud_sla_policy', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation', sa.JSON(), nullable=False,
                                      server_default='[{"action": "notify"}]'))

    with op.batch_alter_table('ticketcloud_sla_target', schema=None) as batch_op:
        batch_op.create_index('ix_ticketcloud_sla_target_tenant_due', ['tenant_id', 'state', 'due_at'], unique=False)
        batch_op.create_index('ix_ticketcloud_sla_target_tenant_warn', ['tenant_id', 'state', 'warn_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticketcloud_sla_target', schema=None) as batch_op:
        batch_op.drop_index('ix_ticketcloud_sla_target_tenant_warn')
        batch_op.drop_index('ix_ticketcloud_sla_target_tenant_due')

    with op.batch_alter_table('ticketcloud_sla_policy', schema=None) as batch_op:
        batch_op.drop_column('escalation')
