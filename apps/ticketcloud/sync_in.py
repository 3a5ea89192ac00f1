"""The master's side of sync: upsert each pushed snapshot keyed by the child's
installation id and ticket id, so that a repeat changes nothing and a stale version
is rejected."""

from __future__ import annotations

import logging
from typing import Any

from lxml import etree
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, Audience, SyncItem, SyncRejected, check_valid, utcnow
from ticketcloud.models import Channel, Priority
from ticketcloud.status import Status
from ticketcloud.sync_format import NS, SCHEMA, TicketSnapshot, read_snapshot
from ticketcloud.sync_models import SyncedChange, SyncedTicket
from ticketcloud.teams import AGENT_ROLES

logger = logging.getLogger(__name__)

RECEIVED = "ticketcloud.sync.received"
_ROWS = "ticketcloud.sync.rows"
_ANNOUNCED = "ticketcloud.sync.announced"


async def apply_ticket(context: AppContext, session: AsyncSession, item: SyncItem) -> str:
    """Apply one ticket snapshot; return "applied" or "duplicate".

    Raises XmlRejected (422) for an element that breaks the schema, and SyncRejected
    (409 `stale_version`) for a version older than the stored one that was never
    applied, which only a child restored from an old backup sends.
    """
    if item.payload.tag != f"{{{NS}}}ticket":
        raise SyncRejected(f"Item {item.item_id} holds {item.payload.tag!r}; TicketCloud "
                           f"accepts only {{{NS}}}ticket.", code="schema_violation",
                           status=422)
    check_valid(SCHEMA, item.payload, what=f"ticket of item {item.item_id}")
    snapshot = read_snapshot(item.payload)
    if item.stream != f"ticket:{snapshot.remote_id}":
        raise SyncRejected(f"Item {item.item_id} is in stream {item.stream!r} but holds "
                           f"ticket {snapshot.remote_id}.", code="stream_mismatch",
                           status=422)
    key = (item.tenant_id, item.installation_id, snapshot.remote_id)
    # Rows this transaction loaded or created, so that the items of one ticket in a
    # batch cost one lookup, and events already staged for them.
    rows: dict[tuple[int, str, int], SyncedTicket] = session.info.setdefault(_ROWS, {})
    announced: set[int] = session.info.setdefault(_ANNOUNCED, set())
    row = rows.get(key)
    if row is None:
        row = (await session.exec(select(SyncedTicket).where(
            SyncedTicket.tenant_id == item.tenant_id,
            SyncedTicket.installation_id == item.installation_id,
            SyncedTicket.remote_id == snapshot.remote_id))).first()
    if row is not None and snapshot.version <= row.version:
        # NOTE: row.version is the highest version applied, so only an older or equal
        # version can be a repeat; a newer one needs no lookup.
        if snapshot.version == row.version or await _seen(session, row, snapshot.version):
            return "duplicate"
        raise SyncRejected(
            f"Ticket {snapshot.remote_id} of installation {item.installation_id} is at "
            f"version {row.version} here; version {snapshot.version} is stale.",
            code="stale_version")
    row = _upsert(row, item, snapshot)
    session.add(row)
    if row.id is None:
        await session.flush()
    assert row.id is not None
    rows[key] = row
    session.add(SyncedChange(tenant_id=item.tenant_id, synced_ticket_id=row.id,
                             version=snapshot.version))
    if row.id not in announced:
        announced.add(row.id)
        await context.publish(session, tenant_id=item.tenant_id, topic=RECEIVED, payload={
            "synced_ticket_id": row.id, "installation_id": row.installation_id,
            "source_name": row.source_name, "workspace": row.workspace,
            "number": row.number,
        }, audience=Audience.of(roles=AGENT_ROLES))
    return "applied"


async def _seen(session: AsyncSession, row: SyncedTicket, version: int) -> bool:
    return (await session.exec(select(SyncedChange.id).where(
        SyncedChange.synced_ticket_id == row.id,
        SyncedChange.version == version))).first() is not None


def _upsert(row: SyncedTicket | None, item: SyncItem,
            snapshot: TicketSnapshot) -> SyncedTicket:
    document = etree.tostring(item.payload, encoding="unicode")
    fields: dict[str, Any] = {
        "source_name": item.peer_name, "workspace": item.workspace,
        "number": snapshot.number, "subject": snapshot.subject,
        "status": Status(snapshot.status), "priority": Priority(snapshot.priority),
        "channel": Channel(snapshot.channel), "requester_email": snapshot.requester_email,
        "requester_name": snapshot.requester_name, "assignee_name": snapshot.assignee_name,
        "tags": snapshot.tags, "message_count": snapshot.message_count,
        "version": snapshot.version, "document": document,
        "remote_updated_at": snapshot.updated, "received_at": utcnow(),
    }
    if row is None:
        logger.info("New synced ticket %s from installation %s (%s)", snapshot.remote_id,
                    item.installation_id, item.peer_name)
        return SyncedTicket(tenant_id=item.tenant_id, installation_id=item.installation_id,
                            remote_id=snapshot.remote_id, **fields)
    for name, value in fields.items():
        setattr(row, name, value)
    return row
