"""TicketCloud's routes and hooks, registered with the portal through `portal.sdk`."""

from __future__ import annotations

from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from portal.sdk import AppBackend, AppContext, Job, Role, require_role
from ticketcloud import api_routes, public_routes
from ticketcloud.autoclose import close_solved_job
from ticketcloud.demo import seed_demo
from ticketcloud.models import TenantSettings, TicketCounter

_STATIC = Path(__file__).resolve().parent / "static"
AUTO_CLOSE_INTERVAL_SECONDS = 300


async def queue_window(request: Request) -> Response:
    require_role(request, Role.ADMIN, Role.AGENT)
    return _page("queue.html")


async def ticket_window(request: Request) -> Response:
    """Serve the ticket window. Its script reads the ticket number from the query
    parameter `ticket`."""
    require_role(request, Role.ADMIN, Role.AGENT)
    return _page("ticket.html")


async def rules_window(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    return _page("rules.html")


def _page(name: str) -> Response:
    return FileResponse(_STATIC / name, media_type="text/html")


async def on_install(context: AppContext, session: AsyncSession, tenant_id: int) -> None:
    """Create the tenant's settings and ticket counter rows; a reinstall keeps both."""
    if await session.get(TenantSettings, tenant_id) is None:
        session.add(TenantSettings(tenant_id=tenant_id))
    if await session.get(TicketCounter, tenant_id) is None:
        session.add(TicketCounter(tenant_id=tenant_id, last_number=0))


backend = AppBackend(
    routes=[
        Route("/", queue_window, methods=["GET"]),
        Route("/ticket", ticket_window, methods=["GET"]),
        Route("/admin/rules", rules_window, methods=["GET"]),
        *api_routes.routes,
        *public_routes.routes,
    ],
    on_install=on_install,
    seed_demo=seed_demo,
    jobs=[Job("close_solved", AUTO_CLOSE_INTERVAL_SECONDS, close_solved_job)],
)
