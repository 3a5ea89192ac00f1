"""Add the master's copies of tickets synced from other installations.

Revision ID: ticketcloud_0009
Revises: ticketcloud_0008
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ticketcloud_0009'
down_revision: str | Sequence[str] | None = 'ticketcloud_0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ticketcloud_sync_ticket',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticketcloud_ticket.id'], ),
    sa.PrimaryKeyConstraint('ticket_id')
    )
    with op.batch_alter_table('ticketcloud_sync_ticket', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_sync_ticket_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('ticketcloud_synced_ticket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('installation_id', sa.String(length=32), nullable=False),
    sa.Column('source_name', sa.String(length=100), nullable=False),
    sa.Column('workspace', sa.String(length=63), nullable=False),
    sa.Column('remote_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('status', sa.Enum('new', 'open', 'pending', 'on_hold', 'solved', 'closed', name='status', native_enum=False, length=16), nullable=False),
    sa.Column('priority', sa.Enum('low', 'normal', 'high', 'urgent', name='priority', native_enum=False, length=16), nullable=False),
    sa.Column('channel', sa.Enum('web', 'email', 'api', 'sync', name='channel', native_enum=False, length=16), nullable=False),
    sa.Column('requester_email', sa.String(length=254), nullable=False),
    sa.Column('requester_name', sa.String(length=200), nullable=False),
    sa.Column('assignee_name', sa.String(length=200), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('message_count', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('remote_updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'installation_id', 'remote_id', name='uq_ticketcloud_synced_ticket_remote')
    )
    with op.batch_alter_table('ticketcloud_synced_ticket', schema=None) as batch_op:
        batch_op.create_index('ix_ticketcloud_synced_ticket_received', ['tenant_id', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_synced_ticket_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('ticketcloud_synced_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('synced_ticket_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['synced_ticket_id'], ['ticketcloud_synced_ticket.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('synced_ticket_id', 'version', name='uq_ticketcloud_synced_change_version')
    )
    with op.batch_alter_table('ticketcloud_synced_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_synced_change_synced_ticket_id'), ['synced_ticket_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_synced_change_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticketcloud_synced_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_synced_change_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_synced_change_synced_ticket_id'))

    op.drop_table('ticketcloud_synced_change')
    with op.batch_alter_table('ticketcloud_synced_ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_synced_ticket_tenant_id'))
        batch_op.drop_index('ix_ticketcloud_synced_ticket_received')

    op.drop_table('ticketcloud_synced_ticket')
    with op.batch_alter_table('ticketcloud_sync_ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_sync_ticket_tenant_id'))

    op.drop_table('ticketcloud_sync_ticket')
