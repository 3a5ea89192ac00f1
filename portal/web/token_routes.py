"""The JSON API for API tokens: each user's own, and the admin's view of the tenant's."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.auth.api_tokens import (
    access_token,
    check_token_name,
    do_create_api_token,
    do_revoke_api_token,
    list_tenant_tokens,
    list_user_tokens,
    token_view,
)
from portal.errors import Forbidden
from portal.models import Role
from portal.sdk import principal, require_role
from portal.services import Services
from portal.web.responses import path_id, read_json_object

MAX_BODY = 4096


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def list_my_tokens(request: Request) -> Response:
    who = principal(request)
    async with _services(request).db.read() as session:
        rows = await list_user_tokens(session, tenant_id=who.tenant_id, user_id=who.user_id)
    return JSONResponse({"tokens": [token_view(row) for row in rows]})


async def create_my_token(request: Request) -> Response:
    who = principal(request)
    # A leaked token must not be able to mint more tokens that outlive its revocation.
    if who.via == "token":
        raise Forbidden(
            "An API token cannot create API tokens; sign in to the portal in a "
            "browser to create one.",
            code="session_required",
        )
    data = await read_json_object(request, max_bytes=MAX_BODY,
                                  hint='such as {"name": "backup script"}')
    name = check_token_name(data.get("name"))
    async with _services(request).db.transaction() as session:
        row, secret = await do_create_api_token(
            session, tenant_id=who.tenant_id, user_id=who.user_id, name=name
        )
    view = token_view(row)
    return JSONResponse(
        {"id": view["id"], "name": view["name"], "token": secret, "created_at": view["created_at"]},
        status_code=201,
    )


async def revoke_my_token(request: Request) -> Response:
    who = principal(request)
    token_id = path_id(request, "token_id")
    async with _services(request).db.transaction() as session:
        row = await access_token(session, token_id, tenant_id=who.tenant_id, user_id=who.user_id)
        await do_revoke_api_token(session, row, revoked_by=who.user_id)
    return JSONResponse({"token": token_view(row)})


async def list_all_tokens(request: Request) -> Response:
    who = require_role(request, Role.ADMIN)
    async with _services(request).db.read() as session:
        rows = await list_tenant_tokens(session, tenant_id=who.tenant_id)
    tokens = [
        {**token_view(token), "user": {"id": user.id, "name": user.name, "email": user.email}}
        for token, user in rows
    ]
    return JSONResponse({"tokens": tokens})


async def revoke_any_token(request: Request) -> Response:
    who = require_role(request, Role.ADMIN)
    token_id = path_id(request, "token_id")
    async with _services(request).db.transaction() as session:
        row = await access_token(session, token_id, tenant_id=who.tenant_id)
        await do_revoke_api_token(session, row, revoked_by=who.user_id)
    return JSONResponse({"token": token_view(row)})


routes = [
    Route("/api/me/tokens", list_my_tokens, methods=["GET"]),
    Route("/api/me/tokens", create_my_token, methods=["POST"]),
    Route("/api/me/tokens/{token_id:int}", revoke_my_token, methods=["DELETE"]),
    Route("/api/admin/tokens", list_all_tokens, methods=["GET"]),
    Route("/api/admin/tokens/{token_id:int}", revoke_any_token, methods=["DELETE"]),
]
