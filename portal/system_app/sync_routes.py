"""The Sync health window: read-only figures of installation sync for a workspace admin.

Which admin gets which part, so that one workspace learns nothing about another's
traffic:
- The child part (push state towards the master) is shown to admins of the workspaces
  whose tickets sync, that is, that have staged at least one outbox item. The queue
  figures count that workspace's items only. The push state (last error, next retry,
  last delivery) is the installation's, because every workspace shares one push loop.
- The master part lists the child installations registered to deliver into the
  admin's workspace, and no others.
Secrets are never shown; they are set only with `python -m portal sync`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from portal.models import Role
from portal.sdk import require_role
from portal.services import Services
from portal.sync.models import SyncMaster, SyncOutboxItem, SyncPeer
from portal.sync.outbox import queue_health
from portal.sync.peers import list_peers, load_master

_PAGE = Path(__file__).resolve().parent / "static" / "sync.html"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def sync_window(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    return FileResponse(_PAGE, media_type="text/html")


async def _tenant_syncs(session: AsyncSession, tenant_id: int) -> bool:
    item = (await session.exec(select(SyncOutboxItem.id).where(
        SyncOutboxItem.tenant_id == tenant_id).limit(1))).first()
    return item is not None


async def child_health(session: AsyncSession, tenant_id: int) -> dict[str, Any] | None:
    """Return the push state towards the master as the workspace's admin may see it, or
    None when this installation has no master or the workspace has nothing to sync."""
    master: SyncMaster | None = await load_master(session)
    if master is None or not await _tenant_syncs(session, tenant_id):
        return None
    queue = await queue_health(session, tenant_id=tenant_id)
    return {
        "master_url": master.url, "master_installation_id": master.master_installation_id,
        "queue_depth": queue.depth, "oldest_pending_at": _iso(queue.oldest_pending_at),
        "delivered": queue.delivered, "failures_in_a_row": master.failures,
        "last_error": master.last_error, "last_attempt_at": _iso(master.last_attempt_at),
        "next_attempt_at": _iso(master.next_attempt_at),
        "last_delivered_at": _iso(master.last_success_at),
    }


def peer_view(peer: SyncPeer) -> dict[str, Any]:
    return {
        "installation_id": peer.installation_id, "name": peer.name,
        "last_contact_at": _iso(peer.last_contact_at),
        "last_success_at": _iso(peer.last_success_at),
        "last_error": peer.last_error, "last_error_at": _iso(peer.last_error_at),
        "error_count": peer.error_count, "batches_received": peer.batches_received,
        "items_applied": peer.items_applied,
    }


async def sync_health(request: Request) -> Response:
    """Return the admin's view of sync: `child` (or null) and `children`."""
    who = require_role(request, Role.ADMIN)
    services: Services = request.app.state.services
    async with services.db.read() as session:
        child = await child_health(session, who.tenant_id)
        peers = await list_peers(session, tenant_id=who.tenant_id)
    return JSONResponse({"child": child, "children": [peer_view(peer) for peer in peers]})


routes = [
    Route("/sync", sync_window, methods=["GET"]),
    Route("/api/sync/health", sync_health, methods=["GET"]),
]
