"""Add SLA calendars, policies and per-ticket targets.

Revision ID: ticketcloud_0005
Revises: ticketcloud_0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ticketcloud_0005'
down_revision: str | Sequence[str] | None = 'ticketcloud_0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ticketcloud_sla_calendar',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('hours', sa.JSON(), nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'name', name='uq_ticketcloud_sla_calendar_name')
    )
    with op.batch_alter_table('ticketcloud_sla_calendar', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_sla_calendar_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('ticketcloud_sla_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=True),
    sa.Column('first_response_minutes', sa.Integer(), nullable=True),
    sa.Column('next_response_minutes', sa.Integer(), nullable=True),
    sa.Column('resolution_minutes', sa.Integer(), nullable=True),
    sa.Column('warning_percent', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['ticketcloud_sla_calendar.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticketcloud_sla_policy', schema=None) as batch_op:
        batch_op.create_index('ix_ticketcloud_sla_policy_position', ['tenant_id', 'position'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_sla_policy_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('ticketcloud_sla_target',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('first_response', 'next_response', 'resolution', name='targetkind', native_enum=False, length=16), nullable=False),
    sa.Column('state', sa.Enum('running', 'paused', 'met', 'breached', name='targetstate', native_enum=False, length=16), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=True),
    sa.Column('calendar_id', sa.Integer(), nullable=True),
    sa.Column('target_minutes', sa.Integer(), nullable=False),
    sa.Column('warning_minutes', sa.Integer(), nullable=False),
    sa.Column('consumed_minutes', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('running_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('warn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('warning_published', sa.Boolean(), nullable=False),
    sa.Column('breach_published', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticketcloud_ticket.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticketcloud_sla_target', schema=None) as batch_op:
        batch_op.create_index('ix_ticketcloud_sla_target_due', ['state', 'breach_published', 'due_at'], unique=False)
        batch_op.create_index('ix_ticketcloud_sla_target_warn', ['state', 'warning_published', 'warn_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_sla_target_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticketcloud_sla_target_ticket_id'), ['ticket_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticketcloud_sla_target', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_sla_target_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_ticketcloud_sla_target_tenant_id'))
        batch_op.drop_index('ix_ticketcloud_sla_target_warn')
        batch_op.drop_index('ix_ticketcloud_sla_target_due')

    op.drop_table('ticketcloud_sla_target')
    with op.batch_alter_table('ticketcloud_sla_policy', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_sla_policy_tenant_id'))
        batch_op.drop_index('ix_ticketcloud_sla_policy_position')

    op.drop_table('ticketcloud_sla_policy')
    with op.batch_alter_table('ticketcloud_sla_calendar', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_sla_calendar_tenant_id'))

    op.drop_table('ticketcloud_sla_calendar')
