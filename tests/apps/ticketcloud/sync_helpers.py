"""Helpers for TicketCloud's sync tests: make the database a child of a master, and
apply a ticket's snapshot as a master would."""

from __future__ import annotations

from portal.db import Database
from portal.sdk import AppContext, SyncItem, utcnow
from portal.sync.peers import do_configure_master
from ticketcloud.models import Ticket
from ticketcloud.sync_format import build_snapshot
from ticketcloud.sync_in import apply_ticket

# A child whose master is never contacted in these tests: nothing pushes.
MASTER_URL = "http://127.0.0.1:9"
SECRET = "s" * 43
CHILD_ID = "c" * 32


async def configure_master(db: Database) -> None:
    async with db.transaction() as session:
        await do_configure_master(session, url=MASTER_URL, secret=SECRET)


async def apply_snapshot(context: AppContext, db: Database, ticket: Ticket, *, version: int,
                         tenant_id: int, installation_id: str = CHILD_ID) -> str:
    """Build the ticket's snapshot at `version` and apply it to `tenant_id`."""
    assert ticket.id is not None
    async with context.transaction() as session:
        loaded = await session.get(Ticket, ticket.id)
        assert loaded is not None
        payload = await build_snapshot(context, session, loaded, version=version)
        return await apply_ticket(context, session, SyncItem(
            installation_id=installation_id, peer_name="Branch", tenant_id=tenant_id,
            workspace="branch", stream=f"ticket:{ticket.id}", item_id=1, created=utcnow(),
            payload=payload))
