"""create portal tables

Revision ID: portal_0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'portal_0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ('portal',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('portal_login_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_key', sa.String(length=64), nullable=False),
    sa.Column('client_address', sa.String(length=64), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('portal_login_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_portal_login_attempt_account', ['account_key', 'attempted_at'], unique=False)
        batch_op.create_index('ix_portal_login_attempt_address', ['client_address', 'attempted_at'], unique=False)

    op.create_table('portal_tenant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    op.create_table('portal_app_installation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('status', sa.Enum('installed', 'uninstalled', name='installationstatus', native_enum=False, length=16), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'app_id', name='uq_portal_app_installation')
    )
    with op.batch_alter_table('portal_app_installation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_app_installation_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('portal_event',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('topic', sa.String(length=128), nullable=False),
    sa.Column('time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('notification', sa.JSON(), nullable=True),
    sa.Column('audience_users', sa.JSON(), nullable=False),
    sa.Column('audience_roles', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'seq', name='uq_portal_event_seq')
    )
    op.create_table('portal_event_counter',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    op.create_table('portal_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('admin', 'agent', 'customer', name='role', native_enum=False, length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'email', name='uq_portal_user_email')
    )
    with op.batch_alter_table('portal_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_user_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('portal_api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['portal_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('portal_api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_api_token_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_portal_api_token_user_id'), ['user_id'], unique=False)

    op.create_table('portal_desktop_layout',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('layout', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['portal_user.id'], ),
    sa.PrimaryKeyConstraint('user_id')
    )
    with op.batch_alter_table('portal_desktop_layout', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_desktop_layout_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('portal_session',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['portal_user.id'], ),
    sa.PrimaryKeyConstraint('token_hash')
    )
    with op.batch_alter_table('portal_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_portal_session_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_portal_session_user_id'), ['user_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('portal_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_session_user_id'))
        batch_op.drop_index(batch_op.f('ix_portal_session_expires_at'))

    op.drop_table('portal_session')
    with op.batch_alter_table('portal_desktop_layout', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_desktop_layout_tenant_id'))

    op.drop_table('portal_desktop_layout')
    with op.batch_alter_table('portal_api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_api_token_user_id'))
        batch_op.drop_index(batch_op.f('ix_portal_api_token_tenant_id'))

    op.drop_table('portal_api_token')
    with op.batch_alter_table('portal_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_user_tenant_id'))

    op.drop_table('portal_user')
    op.drop_table('portal_event_counter')
    op.drop_table('portal_event')
    with op.batch_alter_table('portal_app_installation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_portal_app_installation_tenant_id'))

    op.drop_table('portal_app_installation')
    op.drop_table('portal_tenant')
    with op.batch_alter_table('portal_login_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_login_attempt_address')
        batch_op.drop_index('ix_portal_login_attempt_account')

    op.drop_table('portal_login_attempt')

