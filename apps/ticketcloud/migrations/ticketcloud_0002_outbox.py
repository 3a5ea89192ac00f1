"""Add the Message-IDs of mail sent and received per ticket, for threading.

Revision ID: ticketcloud_0002
Revises: ticketcloud_0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ticketcloud_0002'
down_revision: str | Sequence[str] | None = 'ticketcloud_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('ticketcloud_mail_thread',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=False),
    sa.Column('direction', sa.Enum('out', 'in', name='maildirection', native_enum=False, length=16), nullable=False),
    sa.Column('ticketcloud_message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticketcloud_ticket.id'], ),
    sa.ForeignKeyConstraint(['ticketcloud_message_id'], ['ticketcloud_message.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'message_id', name='uq_ticketcloud_mail_thread_id')
    )
    with op.batch_alter_table('ticketcloud_mail_thread', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_mail_thread_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_mail_thread_ticket_id'), ['ticket_id'], unique=False)


def downgrade() -> None:

    with op.batch_alter_table('ticketcloud_mail_thread', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_mail_thread_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_mail_thread_tenant_id'))

    op.drop_table('ticketcloud_mail_thread')
