"""Add the trusted authserv-id for agents' mail, the cleared state of bouncing
addresses, and the log of recipients that ticket mail skipped because they bounced.

Revision ID: ticketcloud_0013
Revises: ticketcloud_0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ticketcloud_0013'
down_revision: str | Sequence[str] | None = 'ticketcloud_0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('ticketcloud_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mail_trusted_authserv_id', sa.String(length=255),
                                      nullable=False, server_default=''))
    with op.batch_alter_table('ticketcloud_mail_bounce', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table('ticketcloud_mail_skip',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('ticketcloud_message_id', sa.Integer(), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('bounced_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticketcloud_ticket.id'], ),
    sa.ForeignKeyConstraint(['ticketcloud_message_id'], ['ticketcloud_message.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticketcloud_mail_skip', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_mail_skip_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_mail_skip_ticket_id'), ['ticket_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticketcloud_mail_skip', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_mail_skip_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_mail_skip_tenant_id'))
    op.drop_table('ticketcloud_mail_skip')
    with op.batch_alter_table('ticketcloud_mail_bounce', schema=None) as batch_op:
        batch_op.drop_column('cleared_at')
    with op.batch_alter_table('ticketcloud_settings', schema=None) as batch_op:
        batch_op.drop_column('mail_trusted_authserv_id')
