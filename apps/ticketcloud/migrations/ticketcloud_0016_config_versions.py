"""Add the configuration cache's triggers to TicketCloud's rules, SLA policies and mail
templates: a change of their rows gives the workspace a new version in the portal's
`portal_config_version` (see `portal.config_cache` and the migration portal_0009,
which creates that table and, on PostgreSQL, the function the triggers call).

Revision ID: ticketcloud_0016
Revises: ticketcloud_0015
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "ticketcloud_0016"
down_revision: str | Sequence[str] | None = "ticketcloud_0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("ticketcloud_rule", "ticketcloud_sla_policy", "ticketcloud_mail_template")
# The rows whose tenant gets a new version, per operation.
_ROWS = {"insert": ("NEW",), "update": ("OLD", "NEW"), "delete": ("OLD",)}


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        if postgresql:
            op.execute(f"CREATE TRIGGER {table}_config_version AFTER INSERT OR UPDATE OR "
                       f"DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION "
                       "portal_config_changed('tenant_id')")
            continue
        for operation, rows in _ROWS.items():
            bumps = " ".join(
                "INSERT INTO portal_config_version (tenant_id, version) "
                f"VALUES ({row}.tenant_id, random()) "
                "ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version;"
                for row in rows)
            op.execute(f"CREATE TRIGGER {table}_config_{operation} AFTER "
                       f"{operation.upper()} ON {table} BEGIN {bumps} END")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_config_version ON {table}")
            continue
        for operation in _ROWS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_config_{operation}")
