"""TicketCloud's routes and hooks, registered with the portal through `portal.sdk`."""

from __future__ import annotations

from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from portal.sdk import AppBackend, AppContext, Job, Role, require_role
from ticketcloud import api_routes, api_sync, public_routes
from ticketcloud.autoclose import close_solved_job
from ticketcloud.demo import seed_demo
from ticketcloud.mail_in import handle_mail
from ticketcloud.models import TenantSettings, TicketCounter
from ticketcloud.sla.scanner import sla_scan_job
from ticketcloud.sync_in import apply_ticket
from ticketcloud.sync_out import backfill_tickets

_STATIC = Path(__file__).resolve().parent / "static"
AUTO_CLOSE_INTERVAL_SECONDS = 300
# A warning or breach reaches desktops at most this late; `--job-interval
# ticketcloud.sla_scan=SECONDS` changes it.
SLA_SCAN_INTERVAL_SECONDS = 30


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


async def teams_window(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    return _page("teams.html")


async def sla_window(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    return _page("sla_admin.html")


async def synced_window(request: Request) -> Response:
    require_role(request, Role.ADMIN, Role.AGENT)
    return _page("synced.html")


async def reports_window(request: Request) -> Response:
    require_role(request, Role.ADMIN, Role.AGENT)
    return _page("reports.html")


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
        Route("/admin/teams", teams_window, methods=["GET"]),
        Route("/admin/sla", sla_window, methods=["GET"]),
        Route("/reports", reports_window, methods=["GET"]),
        Route("/synced", synced_window, methods=["GET"]),
        *api_routes.routes,
        *api_sync.routes,
        *public_routes.routes,
    ],
    on_install=on_install,
    seed_demo=seed_demo,
    mail_handler=handle_mail,
    sync_applier=apply_ticket,
    sync_backfill=backfill_tickets,
    jobs=[Job("close_solved", AUTO_CLOSE_INTERVAL_SECONDS, close_solved_job),
          Job("sla_scan", SLA_SCAN_INTERVAL_SECONDS, sla_scan_job)],
)
