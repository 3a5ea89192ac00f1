"""Routes of the Apps window; the data comes from the portal's /api/admin/apps."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from portal.sdk import AppBackend, Role, require_role
from portal.system_app import mail_routes, mail_settings_routes, sync_routes

_PAGE = Path(__file__).resolve().parent / "static" / "apps.html"


async def apps_window(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    return FileResponse(_PAGE, media_type="text/html")


backend = AppBackend(routes=[Route("/", apps_window, methods=["GET"]), *mail_routes.routes,
                                     *mail_settings_routes.routes, *sync_routes.routes])
