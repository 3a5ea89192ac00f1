"""TicketCloud's routes and hooks, registered with the portal through `portal.sdk`."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from portal.sdk import AppBackend, Role, require_role

_STATIC = Path(__file__).resolve().parent / "static"


async def queue_window(request: Request) -> Response:
    require_role(request, Role.ADMIN, Role.AGENT)
    # TODO: ticket queues, the ticket window and assignment rules.
    return FileResponse(_STATIC / "queue.html", media_type="text/html")


backend = AppBackend(routes=[Route("/", queue_window, methods=["GET"])])
