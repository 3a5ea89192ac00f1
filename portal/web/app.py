"""Build the Starlette application of one portal process."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import portal
from portal.errors import PortalError
from portal.services import Services, start_services, stop_services
from portal.settings import REPOSITORY_ROOT
from portal.web import (
    admin_routes,
    auth_routes,
    desktop_routes,
    mail_routes,
    sync_routes,
    token_routes,
    websocket,
)
from portal.web.app_gate import app_mounts
from portal.web.middleware import AuthMiddleware, CsrfMiddleware, SecurityHeadersMiddleware
from portal.web.responses import http_error_handler, internal_error_handler, portal_error_handler

logger = logging.getLogger(__name__)

SHELL_STATIC = REPOSITORY_ROOT / "shell_static"
FAVICON = "/static/shell/favicon.svg"


async def healthz(request: Request) -> Response:
    services: Services = request.app.state.services
    if not services.ready:
        return JSONResponse({"status": "starting"}, status_code=503)
    return JSONResponse({"status": "ok", "version": portal.__version__,
                         "apps": sorted(services.registry.apps),
                         "broken_apps": [item.origin for item in services.registry.broken]})


async def favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico on pages that name no icon, such as apps' pages."""
    return RedirectResponse(FAVICON, status_code=301)


def create_app(
    services: Services, *, shell_dir: Path = SHELL_STATIC,
    after_start: Callable[[Services], Awaitable[None]] | None = None,
) -> Starlette:
    """Build the app; `after_start` runs once the services are up, before requests."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await start_services(services)
        if after_start is not None:
            await after_start(services)
        try:
            yield
        finally:
            await stop_services(services)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        *auth_routes.routes,
        *desktop_routes.routes,
        *admin_routes.routes,
        *token_routes.routes,
        *mail_routes.routes,
        *sync_routes.routes,
        *websocket.routes,
        Mount("/static/shell", app=StaticFiles(directory=shell_dir), name="shell"),
        *app_mounts(services),
    ]
    middleware = [
        Middleware(SecurityHeadersMiddleware),
        Middleware(AuthMiddleware, services=services),
        Middleware(CsrfMiddleware, secure_cookies=services.settings.secure_cookies),
    ]
    app = Starlette(
        routes=routes, middleware=middleware, lifespan=lifespan,
        exception_handlers={PortalError: portal_error_handler,
                            HTTPException: http_error_handler,
                            Exception: internal_error_handler},
    )
    app.state.services = services
    return app
