"""TicketCloud's migrations build the schema its models describe, and its manifest lists
every tenant table in an order the portal can purge."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlmodel import SQLModel, col, select

from portal.db import Database
from portal.mail.parse import parse_mail
from portal.migrate import build_config
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
