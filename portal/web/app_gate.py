"""Mounting apps under /apps/<id>/ behind a per-tenant installation check."""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import BaseRoute, Mount, Router
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from portal.auth.sessions import Principal
from portal.errors import NotAuthenticated, NotFound
from portal.registry.installed import is_installed
from portal.registry.registry import LoadedApp
from portal.sdk import SCOPE_APP, SCOPE_PRINCIPAL, SCOPE_TENANT
from portal.services import Services
from portal.tenants import SLUG_PATTERN, get_tenant_by_slug

logger = logging.getLogger(__name__)

PUBLIC_PREFIX = "/public/"
STATIC_PREFIX = "/static/"


class AppGate:
    """Serves one app for the tenants that installed it; 404 for every other tenant.

    Signed-in requests act for the user's tenant. Requests under
    `/apps/<id>/public/<workspace>/` need no sign-in and act for that workspace, and
    `/apps/<id>/static/` is served to anonymous requests without a tenant.
    """

    def __init__(self, app: LoadedApp, services: Services) -> None:
        self.loaded = app
        self.services = services
        routes: list[BaseRoute] = list(app.backend.routes)
        if app.static_dir is not None:
            routes.append(Mount("/static", app=StaticFiles(directory=app.static_dir)))
        self.router = Router(routes=routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.router(scope, receive, send)
            return
        app_id = self.loaded.manifest.id
        route_path = _route_path(scope)
        who: Principal | None = scope.get(SCOPE_PRINCIPAL)
        if route_path.startswith(PUBLIC_PREFIX):
            slug = route_path[len(PUBLIC_PREFIX):].split("/", 1)[0]
            tenant_id = await self._public_tenant(slug)
            if who is not None and who.tenant_id != tenant_id:
                scope[SCOPE_PRINCIPAL] = None
        elif who is None and route_path.startswith(STATIC_PREFIX) and \
                self.loaded.static_dir is not None:
            # An app's static files are code and styles, not tenant data; public pages
            # without sign-in need them too. A signed-in user of a tenant without the app
            # still gets 404 below.
            await self.router(scope, receive, send)
            return
        elif who is None:
            await self._unauthenticated(scope, receive, send)
            return
        else:
            tenant_id = who.tenant_id
        if tenant_id is None or not await self._installed(tenant_id):
            raise NotFound(f"App {app_id!r} is not installed for this workspace.")
        scope[SCOPE_TENANT] = tenant_id
        scope[SCOPE_APP] = self.loaded.context
        await self.router(scope, receive, send)

    async def _installed(self, tenant_id: int) -> bool:
        async with self.services.db.read() as session:
            return await is_installed(session, self.services.registry, tenant_id,
                                      self.loaded.manifest.id)

    async def _public_tenant(self, slug: str) -> int | None:
        if not SLUG_PATTERN.match(slug):
            return None
        async with self.services.db.read() as session:
            try:
                tenant = await get_tenant_by_slug(session, slug)
            except NotFound:
                return None
        return tenant.id

    async def _unauthenticated(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        accept = dict(scope["headers"]).get(b"accept", b"").decode("latin-1")
        if scope["method"] == "GET" and "text/html" in accept:
            target: str = scope["path"]
            query = scope.get("query_string", b"").decode("latin-1")
            if query:
                target += "?" + query
            await RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)(
                scope, receive, send)
            return
        error = NotAuthenticated("Sign in, or send an API token in the Authorization header.")
        await JSONResponse(error.as_json(), status_code=error.status)(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """Return the path below the mount point, as Starlette's routing matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def app_mounts(services: Services) -> list[BaseRoute]:
    return [Mount(f"/apps/{app_id}", app=AppGate(app, services))
            for app_id, app in services.registry.apps.items()]
