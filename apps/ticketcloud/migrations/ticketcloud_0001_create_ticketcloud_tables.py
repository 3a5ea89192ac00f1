"""Create the TicketCloud tables.

Revision ID: ticketcloud_0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ticketcloud_0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ('ticketcloud',)
# Every table references portal_tenant, so the portal's tables come first.
depends_on: str | Sequence[str] | None = 'portal_0001'


def upgrade() -> None:
    op.create_table('ticketcloud_category',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'name', name='uq_ticketcloud_category_name')
    )
    with op.batch_alter_table('ticketcloud_category', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_category_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('ticketcloud_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('match', sa.Enum('all', 'any', name='matchmode', native_enum=False, length=16), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('actions', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticketcloud_rule', schema=None) as batch_op:
        batch_op.create_index('ix_ticketcloud_rule_position', ['tenant_id', 'position'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_rule_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('ticketcloud_settings',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('auto_close_hours', sa.Integer(), nullable=False),
    sa.Column('expose_category', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    op.create_table('ticketcloud_team',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('strategy', sa.Enum('round_robin', 'least_open', name='assignmentstrategy', native_enum=False, length=16), nullable=False),
    sa.Column('round_robin_cursor', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'name', name='uq_ticketcloud_team_name')
    )
    with op.batch_alter_table('ticketcloud_team', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_team_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('ticketcloud_ticket_counter',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    op.create_table('ticketcloud_agent_profile',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('away', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['portal_user.id'], ),
    sa.PrimaryKeyConstraint('user_id')
    )
    with op.batch_alter_table('ticketcloud_agent_profile', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_agent_profile_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('ticketcloud_team_member',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('is_lead', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['ticketcloud_team.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['portal_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('team_id', 'user_id', name='uq_ticketcloud_team_member')
    )
    with op.batch_alter_table('ticketcloud_team_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_team_member_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_team_member_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_team_member_user_id'), ['user_id'], unique=False)

    op.create_table('ticketcloud_ticket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('requester_user_id', sa.Integer(), nullable=True),
    sa.Column('requester_email', sa.String(length=254), nullable=False),
    sa.Column('requester_name', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.Enum('web', 'email', 'api', 'sync', name='channel', native_enum=False, length=16), nullable=False),
    sa.Column('status', sa.Enum('new', 'open', 'pending', 'on_hold', 'solved', 'closed', name='status', native_enum=False, length=16), nullable=False),
    sa.Column('priority', sa.Enum('low', 'normal', 'high', 'urgent', name='priority', native_enum=False, length=16), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('solved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('rating_nonce_hash', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['assignee_id'], ['portal_user.id'], ),
    sa.ForeignKeyConstraint(['category_id'], ['ticketcloud_category.id'], ),
    sa.ForeignKeyConstraint(['requester_user_id'], ['portal_user.id'], ),
    sa.ForeignKeyConstraint(['team_id'], ['ticketcloud_team.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'number', name='uq_ticketcloud_ticket_number')
    )
    with op.batch_alter_table('ticketcloud_ticket', schema=None) as batch_op:
        batch_op.create_index('ix_ticketcloud_ticket_assignee', ['tenant_id', 'assignee_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_ticket_requester_email'), ['requester_email'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_ticket_solved_at'), ['solved_at'], unique=False)
        batch_op.create_index('ix_ticketcloud_ticket_status', ['tenant_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_ticket_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('ticketcloud_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('rule_id', sa.Integer(), nullable=True),
    sa.Column('rule_name', sa.String(length=100), nullable=True),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('old_value', sa.String(length=500), nullable=True),
    sa.Column('new_value', sa.String(length=500), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['portal_user.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticketcloud_ticket.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticketcloud_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_history_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_history_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticketcloud_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('author_user_id', sa.Integer(), nullable=True),
    sa.Column('author_email', sa.String(length=254), nullable=True),
    sa.Column('author_name', sa.String(length=200), nullable=False),
    sa.Column('from_agent', sa.Boolean(), nullable=False),
    sa.Column('visibility', sa.Enum('public', 'internal', name='visibility', native_enum=False, length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_user_id'], ['portal_user.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticketcloud_ticket.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticketcloud_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_message_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_message_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticketcloud_rating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['portal_user.id'], ),
    sa.ForeignKeyConstraint(['team_id'], ['ticketcloud_team.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticketcloud_ticket.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ticket_id')
    )
    with op.batch_alter_table('ticketcloud_rating', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_rating_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('ticketcloud_attachment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('stored_name', sa.String(length=64), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=127), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['ticketcloud_message.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('stored_name')
    )
    with op.batch_alter_table('ticketcloud_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_attachment_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_attachment_tenant_id'), ['tenant_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ticketcloud_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_attachment_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_attachment_message_id'))

    op.drop_table('ticketcloud_attachment')
    with op.batch_alter_table('ticketcloud_rating', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_rating_tenant_id'))

    op.drop_table('ticketcloud_rating')
    with op.batch_alter_table('ticketcloud_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_message_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_message_tenant_id'))

    op.drop_table('ticketcloud_message')
    with op.batch_alter_table('ticketcloud_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_history_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_history_tenant_id'))

    op.drop_table('ticketcloud_history')
    with op.batch_alter_table('ticketcloud_ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_ticket_tenant_id'))
        batch_op.drop_index('ix_ticketcloud_ticket_status')
        batch_op.drop_index(batch_op.f('ix_ticketcloud_ticket_solved_at'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_ticket_requester_email'))
        batch_op.drop_index('ix_ticketcloud_ticket_assignee')

    op.drop_table('ticketcloud_ticket')
    with op.batch_alter_table('ticketcloud_team_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_team_member_user_id'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_team_member_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_team_member_team_id'))

    op.drop_table('ticketcloud_team_member')
    with op.batch_alter_table('ticketcloud_agent_profile', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_agent_profile_tenant_id'))

    op.drop_table('ticketcloud_agent_profile')
    op.drop_table('ticketcloud_ticket_counter')
    with op.batch_alter_table('ticketcloud_team', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_team_tenant_id'))

    op.drop_table('ticketcloud_team')
    op.drop_table('ticketcloud_settings')
    with op.batch_alter_table('ticketcloud_rule', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_rule_tenant_id'))
        batch_op.drop_index('ix_ticketcloud_rule_position')

    op.drop_table('ticketcloud_rule')
    with op.batch_alter_table('ticketcloud_category', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_category_tenant_id'))

    op.drop_table('ticketcloud_category')
