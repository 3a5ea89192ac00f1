"""Add the configuration cache's triggers to teams, team members and agents' away
marks, which assignment now reads from the cache (`ticketcloud.assignment.team_plans`).

A change of these rows gives the workspace a new version in the portal's
`portal_config_version` (see `portal.config_cache` and the migration portal_0009). A
team's `round_robin_cursor` is left out: every assignment by round robin moves it, and
assignment reads it from the row each time, never from the cache.

Revision ID: ticketcloud_0020
Revises: ticketcloud_0019
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "ticketcloud_0020"
down_revision: str | Sequence[str] | None = "ticketcloud_0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each table, with the columns whose update changes what the cache holds (None: all).
_TABLES = {
    "ticketcloud_team": ("tenant_id", "name", "strategy"),
    "ticketcloud_team_member": None,
    "ticketcloud_agent_profile": None,
}
# The rows whose tenant gets a new version, per operation.
_ROWS = {"insert": ("NEW",), "update": ("OLD", "NEW"), "delete": ("OLD",)}


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, columns in _TABLES.items():
        update = f"UPDATE OF {', '.join(columns)}" if columns else "UPDATE"
        if postgresql:
            op.execute(f"CREATE TRIGGER {table}_config_version AFTER INSERT OR {update} OR "
                       f"DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION "
                       "portal_config_changed('tenant_id')")
            continue
        for operation, rows in _ROWS.items():
            bumps = " ".join(
                "INSERT INTO portal_config_version (tenant_id, version) "
                f"VALUES ({row}.tenant_id, random()) "
                "ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version;"
                for row in rows)
            event = update if operation == "update" else operation.upper()
            op.execute(f"CREATE TRIGGER {table}_config_{operation} AFTER {event} ON {table} "
                       f"BEGIN {bumps} END")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in _TABLES:
        if postgresql:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_config_version ON {table}")
            continue
        for operation in _ROWS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_config_{operation}")
