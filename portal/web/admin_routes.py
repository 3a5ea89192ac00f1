"""The admin JSON API for apps: list, install, uninstall and purge for the tenant."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.errors import InvalidInput
from portal.models import Role
from portal.registry import installations
from portal.sdk import require_role
from portal.services import Services


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def list_apps(request: Request) -> Response:
    who = require_role(request, Role.ADMIN)
    services = _services(request)
    apps: list[dict[str, Any]] = []
    async with services.db.read() as session:
        for app_id, app in sorted(services.registry.apps.items()):
            status = await installations.app_status(session, services.registry,
                                                    who.tenant_id, app_id)
            apps.append({
                "id": app_id, "name": app.manifest.name, "version": app.manifest.version,
                "description": app.manifest.description, "builtin": app.builtin,
                "status": status, "origin": app.source.origin,
            })
    broken = [{"id": item.app_id, "origin": item.origin, "error": item.error}
              for item in services.registry.broken]
    return JSONResponse({"apps": apps, "broken": broken})


async def install_app(request: Request) -> Response:
    who = require_role(request, Role.ADMIN)
    services = _services(request)
    app_id = request.path_params["app_id"]
    await installations.install(services.db, services.registry, tenant_id=who.tenant_id,
                                app_id=app_id)
    return JSONResponse({"app": app_id, "status": "installed"})


async def uninstall_app(request: Request) -> Response:
    who = require_role(request, Role.ADMIN)
    services = _services(request)
    app_id = request.path_params["app_id"]
    purge_value = request.query_params.get("purge", "false")
    if purge_value not in ("true", "false"):
        raise InvalidInput(f"Invalid purge value {purge_value!r}: use true or false.",
                           field="purge")
    purge = purge_value == "true"
    await installations.uninstall(services.db, services.registry, tenant_id=who.tenant_id,
                                  app_id=app_id, purge=purge)
    return JSONResponse({"app": app_id, "status": "purged" if purge else "uninstalled"})


routes = [
    Route("/api/admin/apps", list_apps, methods=["GET"]),
    Route("/api/admin/apps/{app_id:str}/install", install_app, methods=["POST"]),
    Route("/api/admin/apps/{app_id:str}/uninstall", uninstall_app, methods=["POST"]),
]
