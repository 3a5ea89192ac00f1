"""TicketCloud's migrations build the schema its models describe, and its manifest lists
every tenant table in an order the portal can purge."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlmodel import SQLModel, col, select

from portal.db import Database
from portal.mail.parse import parse_mail
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.registry import installations
from portal.registry.registry import AppRegistry
from portal.sdk import AppContext
from tests.apps.ticketcloud.conftest import (
    MIGRATIONS,
    Workspace,
    add_rule,
    add_team,
    create_ticket,
)
from tests.apps.ticketcloud.mail_samples import customer_mail, delivery_report
from tests.apps.ticketcloud.sync_helpers import apply_snapshot, configure_master
from tests.apps.ticketcloud.test_migration_sla_seconds import execute, migrate
from tests.support import create_database, drop_database
from ticketcloud import models
from ticketcloud.attachments import AttachmentUpload
from ticketcloud.categories import do_create_category
from ticketcloud.conversation import Author, do_reply
from ticketcloud.mail_in import handle_mail
from ticketcloud.mail_templates import do_set_template
from ticketcloud.models import (
    TENANT_TABLES,
    MailTemplateKind,
    MailThread,
    TenantSettings,
    Ticket,
    TicketCounter,
)
from ticketcloud.ratings import do_issue_rating_token, do_rate
from ticketcloud.sla.calendars import do_create_calendar
from ticketcloud.sla.policies import do_create_policy
from ticketcloud.teams import do_set_away
from ticketcloud.updates import do_update_ticket

MANIFEST = Path(models.__file__).resolve().parent / "manifest.json"


def ticketcloud_tables_only(item: Any, name: str | None, type_: str, reflected: bool,
                            compare_to: Any) -> bool:
    """The FTS5 search table and its shadow tables live in the migration only."""
    return type_ != "table" or bool(name and name.startswith("ticketcloud_")
                                    and not name.startswith("ticketcloud_search"))


def model_tables() -> dict[str, Any]:
    return {name: table for name, table in SQLModel.metadata.tables.items()
            if name.startswith("ticketcloud_")}


def compare_with_models(connection: Connection) -> tuple[list[Any], set[str]]:
    """Return the differences between the migrated schema and the models, and the names
    of the stored tables."""
    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "include_object": ticketcloud_tables_only})
    return compare_metadata(context, SQLModel.metadata), set(inspect(connection)
                                                            .get_table_names())


async def test_migrations_schema_matches_models(db: Database) -> None:
    async with db.engine.connect() as connection:
        differences, stored = await connection.run_sync(compare_with_models)

    assert differences == []
    assert set(model_tables()) <= stored


def test_migrations_branch_is_one_line_from_portal() -> None:
    script = ScriptDirectory.from_config(build_config([MIGRATIONS]))
    chain = [revision for revision in script.iterate_revisions("ticketcloud@head", "base")
             if revision.revision.startswith("ticketcloud_")]
    base = chain[-1]

    assert base.revision == "ticketcloud_0001"
    assert base.down_revision is None
    assert base.dependencies == "portal_0001"
    assert all(revision.down_revision == older.revision
               for revision, older in itertools.pairwise(chain))


def test_models_every_table_has_tenant_id() -> None:
    missing = [name for name, table in model_tables().items() if "tenant_id" not in table.c]

    assert missing == []


def test_manifest_lists_every_table() -> None:
    listed = json.loads(MANIFEST.read_text())["data"]["tables"]

    assert listed == list(TENANT_TABLES)
    assert set(listed) == set(model_tables())


def test_manifest_tables_in_deletion_order() -> None:
    """A referenced table comes before the tables that reference it, because the portal
    purges in reverse order."""
    order = {name: index for index, name in enumerate(TENANT_TABLES)}
    late_references = [
        f"{name} -> {key.column.table.name}"
        for name, table in model_tables().items() for key in table.foreign_keys
        if key.column.table.name in order and order[key.column.table.name] >= order[name]]

    assert late_references == []


async def fill_every_table(context: AppContext, db: Database, workspace: Workspace) -> None:
    team = await add_team(db, workspace, "Billing", members=[workspace.agent_id(0)])
    await add_rule(db, workspace, {
        "name": "All web", "conditions": [{"field": "channel", "operator": "equals",
                                           "value": "web"}],
        "actions": [{"type": "set_team", "value": team.id}]})
    async with db.transaction() as session:
        category = await do_create_category(session, workspace.tenant_id, name="Hardware")
        calendar = await do_create_calendar(session, workspace.tenant_id, {
            "name": "Office", "hours": {"mon": [["09:00", "17:00"]]}})
        await do_create_policy(session, workspace.tenant_id, {
            "name": "All", "calendar_id": calendar.id, "first_response_minutes": 60})
        await do_set_template(session, workspace.tenant_id, MailTemplateKind.REPLY,
                              {"subject": "Re: {{ subject }}", "text": "{{ reply_text }}"},
                              user_id=None)
    await configure_master(db)
    ticket = await create_ticket(context, workspace, category=category.id)
    await apply_snapshot(context, db, ticket, version=1, tenant_id=workspace.tenant_id)
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        await do_set_away(session, workspace.tenant_id, workspace.agent_id(1), True)
        await do_reply(context, session, loaded, body="Done.",
                       author=Author.of_principal(workspace.principal(workspace.agents[0])),
                       attachments=[AttachmentUpload("a.txt", "text/plain", b"a")])
        await do_update_ticket(context, session, loaded,
                               actor=workspace.principal(workspace.agents[0]),
                               expected_version=loaded.version, changes={"status": "solved"})
        token = await do_issue_rating_token(context, session, loaded)
        await do_rate(context, session, tenant_id=workspace.tenant_id, token=token, score=5)
    await fill_mail_tables(context, workspace)


async def fill_mail_tables(context: AppContext, workspace: Workspace) -> None:
    """Start a ticket by mail with a colleague in Cc, bounce its confirmation, and reply
    so that the reply skips the bouncing requester."""
    mail = parse_mail(bytes(customer_mail(to=f"support@{workspace.slug}.test",
                                          cc=["colin@customer.example"])))
    async with context.transaction() as session:
        await handle_mail(context, session, workspace.tenant_id, mail, 1)
        sent = (await session.exec(select(MailThread).where(
            MailThread.tenant_id == workspace.tenant_id, MailThread.direction == "out")
            .order_by(col(MailThread.id).desc()))).first()
        assert sent is not None
        bounce = parse_mail(delivery_report(to="support@example.test",
                                            failed="casey@customer.example",
                                            original_message_id=sent.message_id))
        await handle_mail(context, session, workspace.tenant_id, bounce, 2)
        ticket = await session.get(Ticket, sent.ticket_id)
        assert ticket is not None
        await do_reply(context, session, ticket, body="Try again.",
                       author=Author.of_principal(workspace.principal(workspace.agents[0])))


async def count_tenant_rows(db: Database, tenant_id: int) -> dict[str, int]:
    async with db.read() as session:
        counts = {}
        for table in TENANT_TABLES:
            statement = text(f"SELECT COUNT(*) FROM {table} WHERE tenant_id = :tenant_id")
            result = await session.exec(statement, params={"tenant_id": tenant_id})
            counts[table] = int(result.scalar_one())
        return counts


async def test_install_then_purge_deletes_every_row(
        context: AppContext, db: Database, registry: AppRegistry, workspace: Workspace,
        other_workspace: Workspace) -> None:
    for tenant_id in (workspace.tenant_id, other_workspace.tenant_id):
        await installations.install(db, registry, tenant_id=tenant_id, app_id="ticketcloud")
    await fill_every_table(context, db, workspace)
    await fill_every_table(context, db, other_workspace)
    filled = await count_tenant_rows(db, workspace.tenant_id)

    await installations.uninstall(db, registry, tenant_id=workspace.tenant_id,
                                  app_id="ticketcloud", purge=True)

    assert [table for table, count in filled.items() if count == 0] == []
    assert set((await count_tenant_rows(db, workspace.tenant_id)).values()) == {0}
    assert await count_tenant_rows(db, other_workspace.tenant_id) == filled


async def test_install_creates_settings_and_counter(
        db: Database, registry: AppRegistry, workspace: Workspace) -> None:
    await installations.install(db, registry, tenant_id=workspace.tenant_id,
                                app_id="ticketcloud")
    await installations.uninstall(db, registry, tenant_id=workspace.tenant_id,
                                  app_id="ticketcloud")
    await installations.install(db, registry, tenant_id=workspace.tenant_id,
                                app_id="ticketcloud")

    async with db.read() as session:
        settings = (await session.exec(select(TenantSettings))).all()
        counters = (await session.exec(select(TicketCounter))).all()
    assert [(row.tenant_id, row.auto_close_hours, row.expose_category) for row in settings] == [
        (workspace.tenant_id, 72, False)]
    assert [(row.tenant_id, row.last_number) for row in counters] == [(workspace.tenant_id, 0)]


AUTO_REPLY_TABLE = "ticketcloud_mail_auto_reply"


@pytest.fixture
async def db_at_0014(tmp_path: Path) -> AsyncIterator[Database]:
    """A database with the portal at its head and TicketCloud at ticketcloud_0014, the
    last revision with the table of automatic replies."""
    database = Database(await create_database(tmp_path, "auto_reply_limit"))
    config = build_config([MIGRATIONS])
    await upgrade(database, [PORTAL_BRANCH], config)
    await migrate(database, config, "upgrade", "ticketcloud_0014")
    yield database
    await database.dispose()
    await drop_database(database.url)


async def table_schema(db: Database, table: str) -> dict[str, Any] | None:
    """Return the columns, indexes and foreign keys of `table`, or None when it is gone."""

    def read(connection: Connection) -> dict[str, Any] | None:
        inspector = inspect(connection)
        if table not in inspector.get_table_names():
            return None
        return {
            "columns": [(column["name"], str(column["type"]), column["nullable"])
                        for column in inspector.get_columns(table)],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted((str(index["name"]), tuple(index["column_names"]),
                               bool(index["unique"]))
                              for index in inspector.get_indexes(table)),
            "foreign_keys": [(tuple(key["constrained_columns"]), key["referred_table"],
                              tuple(key["referred_columns"]))
                             for key in inspector.get_foreign_keys(table)],
        }

    async with db.engine.connect() as connection:
        return await connection.run_sync(read)


async def test_migration_0015_drops_auto_reply_table(db_at_0014: Database) -> None:
    await execute(db_at_0014, "INSERT INTO portal_tenant (slug, name, created_at) "
                  "VALUES ('acme', 'Acme', CURRENT_TIMESTAMP)")
    await execute(db_at_0014, f"INSERT INTO {AUTO_REPLY_TABLE} (tenant_id, email, created_at) "
                  "SELECT id, 'casey@customer.example', CURRENT_TIMESTAMP FROM portal_tenant")

    await migrate(db_at_0014, build_config([MIGRATIONS]), "upgrade", "ticketcloud_0015")

    assert await table_schema(db_at_0014, AUTO_REPLY_TABLE) is None


async def test_migration_0015_downgrade_recreates_table(db_at_0014: Database) -> None:
    before = await table_schema(db_at_0014, AUTO_REPLY_TABLE)
    config = build_config([MIGRATIONS])
    await migrate(db_at_0014, config, "upgrade", "ticketcloud_0015")

    await migrate(db_at_0014, config, "downgrade", "ticketcloud_0014")
    after = await table_schema(db_at_0014, AUTO_REPLY_TABLE)
    rows = await execute(db_at_0014, f"SELECT COUNT(*) FROM {AUTO_REPLY_TABLE}")

    assert before is not None
    assert {name for name, _, _ in before["indexes"]} == {
        "ix_ticketcloud_mail_auto_reply_email", "ix_ticketcloud_mail_auto_reply_tenant_id"}
    assert after == before
    assert rows[0][0] == 0
