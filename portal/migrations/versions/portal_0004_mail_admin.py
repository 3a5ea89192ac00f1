"""Add IMAP mailboxes per tenant.

Revision ID: portal_0004
Revises: portal_0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'portal_0004'
down_revision: str | Sequence[str] | None = 'portal_0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('portal_mail_imap_mailbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('security', sa.Enum('none', 'starttls', 'tls', name='imapsecurity', native_enum=False, length=16), nullable=False),
    sa.Column('username', sa.String(length=254), nullable=False),
    sa.Column('password', sa.String(length=512), nullable=False),
    sa.Column('folder', sa.String(length=200), nullable=False),
    sa.Column('move_to', sa.String(length=200), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('interval_seconds', sa.Integer(), nullable=False),
    sa.Column('last_poll_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_poll_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('fetched_total', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('portal_mail_imap_mailbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_mail_imap_mailbox_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('portal_mail_imap_seen',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mailbox_id', sa.Integer(), nullable=False),
    sa.Column('uidvalidity', sa.Integer(), nullable=False),
    sa.Column('uid', sa.Integer(), nullable=False),
    sa.Column('inbound_id', sa.Integer(), nullable=False),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('stored_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['inbound_id'], ['portal_mail_inbound.id'], ),
    sa.ForeignKeyConstraint(['mailbox_id'], ['portal_mail_imap_mailbox.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('mailbox_id', 'uidvalidity', 'uid', name='uq_portal_mail_imap_seen_uid')
    )
    with op.batch_alter_table('portal_mail_imap_seen', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_mail_imap_seen_mailbox_id'), ['mailbox_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('portal_mail_imap_seen', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_mail_imap_seen_mailbox_id'))

    op.drop_table('portal_mail_imap_seen')
    with op.batch_alter_table('portal_mail_imap_mailbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_mail_imap_mailbox_tenant_id'))

    op.drop_table('portal_mail_imap_mailbox')
