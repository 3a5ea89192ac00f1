"""Add installation sync: peers, outbox and seen nonces.

Revision ID: portal_0005
Revises: portal_0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'portal_0005'
down_revision: str | Sequence[str] | None = 'portal_0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('portal_sync_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('installation_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('portal_sync_master',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret', sa.String(length=128), nullable=False),
    sa.Column('master_installation_id', sa.String(length=32), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('portal_sync_peer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('installation_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('secret', sa.String(length=128), nullable=False),
    sa.Column('last_contact_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('batches_received', sa.Integer(), nullable=False),
    sa.Column('items_applied', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('installation_id')
    )
    with op.batch_alter_table('portal_sync_peer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_sync_peer_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('portal_sync_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('stream', sa.String(length=100), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'delivered', name='outboxstatus', native_enum=False, length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('portal_sync_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_portal_sync_outbox_status', ['status', 'id'], unique=False)
        batch_op.create_index('ix_portal_sync_outbox_stream', ['tenant_id', 'app_id', 'stream'], unique=False)

    op.create_table('portal_sync_nonce',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('peer_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['peer_id'], ['portal_sync_peer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('peer_id', 'nonce', name='uq_portal_sync_nonce')
    )
    with op.batch_alter_table('portal_sync_nonce', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_sync_nonce_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('portal_sync_nonce', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_sync_nonce_expires_at'))

    op.drop_table('portal_sync_nonce')
    with op.batch_alter_table('portal_sync_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_sync_outbox_stream')
        batch_op.drop_index('ix_portal_sync_outbox_status')

    op.drop_table('portal_sync_outbox')
    with op.batch_alter_table('portal_sync_peer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_sync_peer_tenant_id'))

    op.drop_table('portal_sync_peer')
    op.drop_table('portal_sync_master')
    op.drop_table('portal_sync_identity')
