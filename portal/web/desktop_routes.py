"""The desktop page and the JSON endpoints the shell calls."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

import portal
from portal.desktop.launcher import launcher_entries
from portal.desktop.layout import do_save_layout, load_layout, parse_layout
from portal.models import Role
from portal.registry.installations import installed_app_ids
from portal.sdk import SCOPE_CSRF, SCOPE_PRINCIPAL, principal
from portal.services import Services
from portal.web.responses import render


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def script_json(data: Any) -> str:
    """Encode JSON for a <script> element: no '<', '>' or '&' can end the element early."""
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


async def desktop(request: Request) -> Response:
    if request.scope.get(SCOPE_PRINCIPAL) is None:
        return RedirectResponse("/login", status_code=303)
    who = principal(request)
    if who.role is Role.CUSTOMER:
        return await _customer_home(request)
    boot = {
        "user": {"id": who.user_id, "name": who.name, "email": who.email, "role": who.role.value},
        "tenant": {"id": who.tenant_id, "slug": who.tenant_slug, "name": who.tenant_name},
        "csrf_token": request.scope[SCOPE_CSRF], "ws_path": "/ws",
        "portal_version": portal.__version__,
    }
    page = render(request, "desktop.html", {"boot": boot, "boot_json": script_json(boot)})
    # The page carries the session's CSRF token and must not come back from the cache
    # (through the Back button) after sign-out.
    page.headers["cache-control"] = "no-store"
    return page


async def _customer_home(request: Request) -> Response:
    """Customers never see the desktop; they get links to the pages apps offer them."""
    who = principal(request)
    entries = await _entries(request)
    windows = [window for app in entries for window in app["windows"] if window["launcher"]]
    return render(request, "customer_home.html", {
        "tenant_name": who.tenant_name, "name": who.name, "email": who.email,
        "windows": windows, "csrf_token": request.scope[SCOPE_CSRF],
    })


async def _entries(request: Request) -> list[dict[str, Any]]:
    services = _services(request)
    who = principal(request)
    async with services.db.read() as session:
        installed = await installed_app_ids(session, services.registry, who.tenant_id)
    return launcher_entries(services.registry, installed, who.role)


async def desktop_apps(request: Request) -> Response:
    return JSONResponse({"apps": await _entries(request)})


async def get_layout(request: Request) -> Response:
    who = principal(request)
    async with _services(request).db.read() as session:
        layout = await load_layout(session, who.user_id)
    return JSONResponse({"layout": layout})


async def put_layout(request: Request) -> Response:
    who = principal(request)
    layout = parse_layout(await request.body())
    async with _services(request).db.transaction() as session:
        await do_save_layout(session, tenant_id=who.tenant_id, user_id=who.user_id,
                             layout=layout)
    return JSONResponse({"layout": layout})


routes = [
    Route("/", desktop, methods=["GET"]),
    Route("/api/desktop/apps", desktop_apps, methods=["GET"]),
    Route("/api/desktop/layout", get_layout, methods=["GET"]),
    Route("/api/desktop/layout", put_layout, methods=["PUT"]),
]
