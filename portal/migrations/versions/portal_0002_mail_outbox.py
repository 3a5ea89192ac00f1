"""Add the outgoing mail outbox, per-tenant mail settings and emailed sign-in links.

Revision ID: portal_0002
Revises: portal_0001
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'portal_0002'
down_revision: str | Sequence[str] | None = 'portal_0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('portal_mail_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('ref', sa.String(length=200), nullable=False),
    sa.Column('envelope_from', sa.String(length=254), nullable=False),
    sa.Column('envelope_to', sa.Text(), nullable=False),
    sa.Column('message_id', sa.String(length=998), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=1000), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    with op.batch_alter_table('portal_mail_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_portal_mail_outbox_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_portal_mail_outbox_ref', ['tenant_id', 'app_id', 'ref'], unique=False)

    op.create_table('portal_mail_settings',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('from_address', sa.String(length=254), nullable=True),
    sa.Column('from_name', sa.String(length=200), nullable=True),
    sa.Column('relay_host', sa.String(length=253), nullable=True),
    sa.Column('relay_port', sa.Integer(), nullable=True),
    sa.Column('relay_security', sa.String(length=16), nullable=False),
    sa.Column('relay_username', sa.String(length=254), nullable=True),
    sa.Column('relay_password', sa.String(length=512), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('tenant_id')
    )

    op.create_table('portal_signin_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['portal_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('portal_signin_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_signin_link_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_portal_signin_link_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_portal_signin_link_user_id'), ['user_id'], unique=False)

    op.create_table('portal_signin_link_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_key', sa.String(length=64), nullable=False),
    sa.Column('client_address', sa.String(length=64), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('portal_signin_link_request', schema=None) as batch_op:
        batch_op.create_index('ix_portal_signin_link_request_account', ['account_key', 'requested_at'], unique=False)
        batch_op.create_index('ix_portal_signin_link_request_address', ['client_address', 'requested_at'], unique=False)


def downgrade() -> None:

    with op.batch_alter_table('portal_signin_link_request', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_signin_link_request_address')
        batch_op.drop_index('ix_portal_signin_link_request_account')

    op.drop_table('portal_signin_link_request')
    with op.batch_alter_table('portal_signin_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_signin_link_user_id'))
        batch_op.drop_index(batch_op.f('ix_portal_signin_link_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_portal_signin_link_expires_at'))

    op.drop_table('portal_signin_link')
    op.drop_table('portal_mail_settings')
    with op.batch_alter_table('portal_mail_outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_mail_outbox_ref')
        batch_op.drop_index('ix_portal_mail_outbox_due')

    op.drop_table('portal_mail_outbox')
