"""Sync routes of TicketCloud's API: on a master the tickets that children pushed, on
a child the push state of one ticket. Agents and admins only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from portal.sdk import InvalidInput, NotFound, app_context, parse_untrusted_xml, tenant_id
from ticketcloud.api_support import check_query, json_response, path_id, require_agent
from ticketcloud.status import Status
from ticketcloud.sync_format import snapshot_details
from ticketcloud.sync_models import SyncCounter, SyncedTicket
from ticketcloud.sync_out import ticket_stream
from ticketcloud.tickets import access_ticket
from ticketcloud.views import iso

PREFIX = "/api/v1"
MAX_LIMIT = 200


def synced_view(row: SyncedTicket) -> dict[str, Any]:
    return {
        "id": row.id, "installation_id": row.installation_id, "source": row.source_name,
        "workspace": row.workspace, "remote_id": row.remote_id, "number": row.number,
        "subject": row.subject, "status": row.status.value, "priority": row.priority.value,
        "channel": row.channel.value, "requester_email": row.requester_email,
        "requester_name": row.requester_name, "assignee_name": row.assignee_name,
        "tags": row.tags, "message_count": row.message_count, "version": row.version,
        "updated_at": iso(row.remote_updated_at), "received_at": iso(row.received_at),
    }


async def list_synced(request: Request) -> Response:
    """List synced tickets, newest change first. Filters: `installation` (id),
    `status`, `q` (subject, requester or number), `limit`."""
    require_agent(request)
    query = check_query(request, ["installation", "status", "q", "limit"])
    statement = select(SyncedTicket).where(SyncedTicket.tenant_id == tenant_id(request))
    if query.get("installation"):
        statement = statement.where(SyncedTicket.installation_id == query["installation"])
    if query.get("status"):
        try:
            status = Status(query["status"])
        except ValueError as error:
            raise InvalidInput(f"Invalid status {query['status']!r}: use one of "
                               f"{[item.value for item in Status]}.", field="status") from error
        statement = statement.where(SyncedTicket.status == status)
    text = query.get("q", "").strip()
    if text:
        pattern = f"%{text}%"
        conditions: list[Any] = [col(SyncedTicket.subject).ilike(pattern),
                      col(SyncedTicket.requester_email).ilike(pattern),
                      col(SyncedTicket.requester_name).ilike(pattern)]
        if text.lstrip("#").isdigit():
            conditions.append(col(SyncedTicket.number) == int(text.lstrip("#")))
        statement = statement.where(or_(*conditions))
    limit = _limit(query.get("limit", "50"))
    context = app_context(request)
    async with context.db.read() as session:
        rows = (await session.exec(statement.order_by(
            col(SyncedTicket.received_at).desc(), col(SyncedTicket.id).desc())
            .limit(limit))).all()
        sources = (await session.exec(
            select(SyncedTicket.installation_id, SyncedTicket.source_name)
            .where(SyncedTicket.tenant_id == tenant_id(request)).distinct())).all()
    return json_response({
        "tickets": [synced_view(row) for row in rows],
        "sources": sorted([{"installation_id": installation, "name": name}
                           for installation, name in set(sources)],
                          key=lambda item: item["name"]),
    })


async def get_synced(request: Request) -> Response:
    """Return one synced ticket with its messages from the stored snapshot."""
    require_agent(request)
    synced_id = path_id(request, "synced_id")
    async with app_context(request).db.read() as session:
        row = await session.get(SyncedTicket, synced_id)
    if row is None or row.tenant_id != tenant_id(request):
        raise NotFound(f"Synced ticket {synced_id} not found.", field="synced_id")
    details = snapshot_details(parse_untrusted_xml(row.document.encode()))
    return json_response({**synced_view(row), **details})


async def get_ticket_sync(request: Request) -> Response:
    """Return the push state of one of this installation's tickets: `state` is
    `pending`, `synced` or `not_synced`, and `last_error` the installation's last failed
    push while the ticket has pending changes."""
    who = require_agent(request)
    context = app_context(request)
    async with context.db.read() as session:
        ticket = await access_ticket(session, tenant_id(request),
                                     request.path_params["number"], who)
        assert ticket.id is not None
        stream = ticket_stream(ticket.id)
        states = await context.sync_states(session, tenant_id=ticket.tenant_id,
                                           streams=[stream])
        counter = await session.get(SyncCounter, ticket.id)
        has_master = await context.has_sync_master(session)
    state = states[stream]
    return json_response({
        "number": ticket.number, "has_master": has_master, "state": state.state,
        "pending": state.pending, "delivered": state.delivered,
        "version": counter.version if counter else 0,
        "oldest_pending_at": iso(state.oldest_pending_at),
        "last_delivered_at": iso(state.last_delivered_at), "last_error": state.last_error,
    })


def _limit(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise InvalidInput(f"Invalid limit {value!r}: use 1 to {MAX_LIMIT}.", field="limit")
    return int(value)


routes: list[BaseRoute] = [
    Route(PREFIX + "/synced-tickets", list_synced, methods=["GET"]),
    Route(PREFIX + "/synced-tickets/{synced_id:int}", get_synced, methods=["GET"]),
    Route(PREFIX + "/tickets/{number:int}/sync", get_ticket_sync, methods=["GET"]),
]
