"""TicketCloud's sync: one outbox item per changing transaction with the next change
version, and the master's upsert that ignores repeats and rejects stale versions."""

from __future__ import annotations

import pytest
from lxml import etree
from sqlmodel import col, select

from portal.db import Database
from portal.sdk import AppContext, SyncRejected
from portal.sync.models import SyncOutboxItem
from tests.apps.ticketcloud.conftest import Rollback, Workspace, create_ticket
from tests.apps.ticketcloud.sync_helpers import apply_snapshot, configure_master
from ticketcloud.attachments import AttachmentUpload
from ticketcloud.conversation import Author, do_reply
from ticketcloud.models import Ticket
from ticketcloud.sync_format import INLINE_ATTACHMENT_BYTES, NS
from ticketcloud.sync_models import SyncedChange, SyncedTicket


async def outbox(db: Database) -> list[SyncOutboxItem]:
    async with db.read() as session:
        return list((await session.exec(
            select(SyncOutboxItem).order_by(col(SyncOutboxItem.id)))).all())


def version_of(item: SyncOutboxItem) -> int:
    return int(etree.fromstring(item.body.encode()).get("version", "0"))


async def note(context: AppContext, workspace: Workspace, ticket: Ticket, body: str) -> None:
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        await do_reply(context, session, loaded, body=body, visibility="internal",
                       author=Author.of_principal(workspace.principal(workspace.agents[0])))


async def test_stage_nothing_without_master(context: AppContext, db: Database,
                                            workspace: Workspace) -> None:
    await create_ticket(context, workspace)

    assert await outbox(db) == []


async def test_stage_one_item_per_transaction(context: AppContext, db: Database,
                                              workspace: Workspace) -> None:
    await configure_master(db)
    ticket = await create_ticket(context, workspace)
    await note(context, workspace, ticket, "Checked the toner.")

    items = await outbox(db)
    assert [item.stream for item in items] == [f"ticket:{ticket.id}"] * 2
    assert [version_of(item) for item in items] == [1, 2]
    assert "Checked the toner." in items[1].body
    assert "Checked the toner." not in items[0].body


async def test_stage_rolled_back_with_change(context: AppContext, db: Database,
                                             workspace: Workspace) -> None:
    await configure_master(db)
    ticket = await create_ticket(context, workspace)

    with pytest.raises(Rollback):
        async with context.transaction() as session:
            loaded = await session.get(Ticket, ticket.id)
            assert loaded is not None
            await do_reply(context, session, loaded, body="Lost", visibility="internal",
                           author=Author.of_principal(workspace.principal(workspace.agents[0])))
            raise Rollback
    await note(context, workspace, ticket, "Kept")

    assert [version_of(item) for item in await outbox(db)] == [1, 2]


async def test_snapshot_attachments_inline_or_by_reference(
        context: AppContext, db: Database, workspace: Workspace) -> None:
    await configure_master(db)
    small = AttachmentUpload("small.txt", "text/plain", b"tiny")
    large = AttachmentUpload("large.bin", "application/octet-stream",
                             b"x" * (INLINE_ATTACHMENT_BYTES + 1))
    await create_ticket(context, workspace, attachments=(small, large))

    root = etree.fromstring((await outbox(db))[0].body.encode())
    files = {node.get("filename"): node for node in root.iter(f"{{{NS}}}attachment")}
    assert files["small.txt"].get("inline") == "true"
    assert files["small.txt"].text == "dGlueQ=="
    assert files["large.bin"].get("inline") == "false"
    assert not files["large.bin"].text
    assert files["large.bin"].get("size") == str(INLINE_ATTACHMENT_BYTES + 1)


async def test_apply_repeat_is_duplicate(context: AppContext, db: Database,
                                         workspace: Workspace,
                                         other_workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)
    first = await apply_snapshot(context, db, ticket, version=1,
                                 tenant_id=other_workspace.tenant_id)
    second = await apply_snapshot(context, db, ticket, version=2,
                                  tenant_id=other_workspace.tenant_id)
    repeat = await apply_snapshot(context, db, ticket, version=1,
                                  tenant_id=other_workspace.tenant_id)

    async with db.read() as session:
        rows = (await session.exec(select(SyncedTicket))).all()
        changes = (await session.exec(select(SyncedChange.version))).all()
    assert (first, second, repeat) == ("applied", "applied", "duplicate")
    assert [(row.remote_id, row.version, row.tenant_id) for row in rows] == [
        (ticket.id, 2, other_workspace.tenant_id)]
    assert sorted(changes) == [1, 2]


async def test_apply_rejects_stale_version(context: AppContext, db: Database,
                                           workspace: Workspace,
                                           other_workspace: Workspace) -> None:
    ticket = await create_ticket(context, workspace)
    await apply_snapshot(context, db, ticket, version=3, tenant_id=other_workspace.tenant_id)

    with pytest.raises(SyncRejected) as raised:
        await apply_snapshot(context, db, ticket, version=2,
                             tenant_id=other_workspace.tenant_id)

    assert raised.value.code == "stale_version"
    async with db.read() as session:
        assert (await session.exec(select(SyncedChange.version))).all() == [3]
