"""Add `portal_config_version` and the triggers that keep it, for the configuration
cache of `portal.config_cache`.

Every workspace gets a version row at once, so its configuration is cached from the
first read. The triggers cover the tables whose rows the cache reads: workspaces (their
name), mail settings (the sender and relay) and mail routes (the support addresses).

Revision ID: portal_0009
Revises: portal_0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "portal_0009"
down_revision: str | Sequence[str] | None = "portal_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each configuration table with the column that holds its rows' tenant id.
_TABLES = (("portal_tenant", "id"), ("portal_mail_settings", "tenant_id"),
           ("portal_mail_route", "tenant_id"))


def _create_triggers(dialect: str, table: str, tenant_column: str) -> list[str]:
    """Return the statements that create a configuration table's triggers: an INSERT,
    UPDATE or DELETE of its rows gives their workspace (`tenant_column`) a new version."""
    if dialect == "postgresql":
        return [f"CREATE TRIGGER {table}_config_version AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} FOR EACH ROW EXECUTE FUNCTION "
                f"portal_config_changed('{tenant_column}')"]
    statements = []
    for operation, rows in (("insert", ("NEW",)), ("update", ("OLD", "NEW")),
                            ("delete", ("OLD",))):
        bumps = " ".join(
            "INSERT INTO portal_config_version (tenant_id, version) "
            f"VALUES ({row}.{tenant_column}, random()) "
            "ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version;" for row in rows)
        statements.append(f"CREATE TRIGGER {table}_config_{operation} AFTER "
                          f"{operation.upper()} ON {table} BEGIN {bumps} END")
    return statements


def _drop_triggers(dialect: str, table: str) -> list[str]:
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_config_version ON {table}"]
    return [f"DROP TRIGGER IF EXISTS {table}_config_{operation}"
            for operation in ("insert", "update", "delete")]


# PostgreSQL's trigger function, for the portal's tables and for apps' tables. Its
# argument names the column that holds the tenant id; to_jsonb reads it by name, so one
# function serves every table. random() has 53 random bits, plenty never to meet an old
# version again.
_FUNCTION = """
CREATE OR REPLACE FUNCTION portal_config_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    tenant_column text := TG_ARGV[0];
    tenants bigint[] := ARRAY[]::bigint[];
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        tenants := tenants || (to_jsonb(OLD) ->> tenant_column)::bigint;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        tenants := tenants || (to_jsonb(NEW) ->> tenant_column)::bigint;
    END IF;
    INSERT INTO portal_config_version (tenant_id, version)
        SELECT tenant_id, floor(random() * 9e18)::bigint
        FROM (SELECT DISTINCT unnest(tenants) AS tenant_id) AS changed
        ON CONFLICT (tenant_id) DO UPDATE SET version = excluded.version;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "portal_config_version",
        sa.Column("tenant_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(_FUNCTION)
        op.execute("INSERT INTO portal_config_version (tenant_id, version) "
                   "SELECT id, floor(random() * 9e18)::bigint FROM portal_tenant")
    else:
        op.execute("INSERT INTO portal_config_version (tenant_id, version) "
                   "SELECT id, random() FROM portal_tenant")
    for table, column in _TABLES:
        for statement in _create_triggers(dialect, table, column):
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, _column in _TABLES:
        for statement in _drop_triggers(dialect, table):
            op.execute(statement)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS portal_config_changed()")
    op.drop_table("portal_config_version")
