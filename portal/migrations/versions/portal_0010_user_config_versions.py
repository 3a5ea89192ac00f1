"""Add the configuration cache's triggers to `portal_user`, so that cached values may
include users as `find_users` returns them (name, address, role, whether active), such
as TicketCloud's teams with the agents that assignment can pick.

A change of a user row gives its workspace a new version in `portal_config_version`
(see `portal.config_cache` and portal_0009, which created that table and, on
PostgreSQL, the trigger function). Users change rarely: admins add, edit and deactivate
them.

Revision ID: portal_0010
Revises: portal_0009
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "portal_0010"
down_revision: str | Sequence[str] | None = "portal_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "portal_user"
# The rows whose tenant gets a new version, per operation.
_ROWS = {"insert": ("NEW",), "update": ("OLD", "NEW"), "delete": ("OLD",)}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE TRIGGER {_TABLE}_config_version AFTER INSERT OR UPDATE OR DELETE "
                   f"ON {_TABLE} FOR EACH ROW EXECUTE FUNCTION "
                   "portal_config_changed('tenant_id')")
        return
    for operation, rows in _ROWS.items():
        bumps = " ".join(
            "INSERT INTO portal_config_version (tenant_id, version) "
            f"VALUES ({row}.tenant_id, random()) "
            "ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version;"
            for row in rows)
        op.execute(f"CREATE TRIGGER {_TABLE}_config_{operation} AFTER {operation.upper()} "
                   f"ON {_TABLE} BEGIN {bumps} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_config_version ON {_TABLE}")
        return
    for operation in _ROWS:
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_config_{operation}")
