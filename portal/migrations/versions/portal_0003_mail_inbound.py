"""Add stored inbound mail, mail routes and the quarantine.

Revision ID: portal_0003
Revises: portal_0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'portal_0003'
down_revision: str | Sequence[str] | None = 'portal_0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('portal_mail_route',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('address', name='uq_portal_mail_route_address')
    )
    with op.batch_alter_table('portal_mail_route', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_mail_route_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('portal_mail_inbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('envelope_sender', sa.String(length=254), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('received', 'processed', 'quarantined', 'rejected', name='inboundstatus', native_enum=False, length=16), nullable=False),
    sa.Column('outcome', sa.String(length=200), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('from_address', sa.String(length=254), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'app_id', 'message_id', name='uq_portal_mail_inbound_message_id'),
    sa.UniqueConstraint('tenant_id', 'app_id', 'sha256', name='uq_portal_mail_inbound_sha256')
    )
    with op.batch_alter_table('portal_mail_inbound', schema=None) as batch_op:
        batch_op.create_index('ix_portal_mail_inbound_status', ['status', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_portal_mail_inbound_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('portal_mail_inbound', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_mail_inbound_tenant_id'))
        batch_op.drop_index('ix_portal_mail_inbound_status')

    op.drop_table('portal_mail_inbound')
    with op.batch_alter_table('portal_mail_route', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_mail_route_tenant_id'))

    op.drop_table('portal_mail_route')
