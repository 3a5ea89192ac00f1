"""Add mail participants, bounces, the mail details of messages and the automatic-reply
log for threading inbound mail.

Revision ID: ticketcloud_0006
Revises: ticketcloud_0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ticketcloud_0006'
down_revision: str | Sequence[str] | None = 'ticketcloud_0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ticketcloud_mail_participant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticketcloud_ticket.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id', 'email', name='uq_ticketcloud_mail_participant')
    )
    with op.batch_alter_table('ticketcloud_mail_participant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_mail_participant_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_mail_participant_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticketcloud_mail_bounce',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('permanent', sa.Boolean(), nullable=False),
    sa.Column('diagnostic', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticketcloud_ticket.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticketcloud_mail_bounce', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_mail_bounce_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_mail_bounce_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticketcloud_mail_detail',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('inbound_id', sa.Integer(), nullable=True),
    sa.Column('quoted_text', sa.Text(), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('inline_images', sa.JSON(), nullable=False),
    sa.Column('skipped', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['ticketcloud_message.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    with op.batch_alter_table('ticketcloud_mail_detail', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_mail_detail_inbound_id'), ['inbound_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_mail_detail_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('ticketcloud_mail_auto_reply',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticketcloud_mail_auto_reply', schema=None) as batch_op:
        batch_op.create_index('ix_ticketcloud_mail_auto_reply_email', ['tenant_id', 'email', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_mail_auto_reply_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticketcloud_mail_auto_reply', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_mail_auto_reply_tenant_id'))
        batch_op.drop_index('ix_ticketcloud_mail_auto_reply_email')

    op.drop_table('ticketcloud_mail_auto_reply')
    with op.batch_alter_table('ticketcloud_mail_detail', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_mail_detail_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_mail_detail_inbound_id'))

    op.drop_table('ticketcloud_mail_detail')
    with op.batch_alter_table('ticketcloud_mail_bounce', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_mail_bounce_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_mail_bounce_tenant_id'))

    op.drop_table('ticketcloud_mail_bounce')
    with op.batch_alter_table('ticketcloud_mail_participant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_mail_participant_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_mail_participant_tenant_id'))

    op.drop_table('ticketcloud_mail_participant')
