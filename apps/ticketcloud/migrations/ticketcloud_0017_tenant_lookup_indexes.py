"""Add indexes on the tenant and the looked-up column together for attachments by
message, bounces by address, mail details by inbound row and SLA targets by ticket.

Those lookups also name the tenant. Without statistics (no ANALYZE), SQLite's planner
picked the single-column tenant index for them and read every row of the tenant, so
each inbound message got slower as the workspace's mail grew.

Revision ID: ticketcloud_0017
Revises: ticketcloud_0016
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "ticketcloud_0017"
down_revision: str | Sequence[str] | None = "ticketcloud_0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("ix_ticketcloud_attachment_tenant_message", "ticketcloud_attachment", "message_id"),
    ("ix_ticketcloud_mail_bounce_tenant_email", "ticketcloud_mail_bounce", "email"),
    ("ix_ticketcloud_mail_detail_tenant_inbound", "ticketcloud_mail_detail", "inbound_id"),
    ("ix_ticketcloud_sla_target_tenant_ticket", "ticketcloud_sla_target", "ticket_id"),
)


def upgrade() -> None:
    for name, table, column in _INDEXES:
        op.create_index(name, table, ["tenant_id", column], unique=False)


def downgrade() -> None:
    for name, table, _column in _INDEXES:
        op.drop_index(name, table_name=table)
