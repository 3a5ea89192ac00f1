"""Add per-tenant mail templates.

Revision ID: ticketcloud_0007
Revises: ticketcloud_0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'ticketcloud_0007'
down_revision: str | Sequence[str] | None = 'ticketcloud_0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ticketcloud_mail_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('confirmation', 'reply', 'rating_request', name='mailtemplatekind', native_enum=False, length=16), nullable=False),
    sa.Column('subject', sa.String(length=500), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=True),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['portal_tenant.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('tenant_id', 'kind', name='uq_ticketcloud_mail_template_kind')
    )
    with op.batch_alter_table('ticketcloud_mail_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketcloud_mail_template_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticketcloud_mail_template', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticketcloud_mail_template_tenant_id'))

    op.drop_table('ticketcloud_mail_template')
