"""ASGI middleware: who is calling, CSRF checks and security headers.

Pure ASGI (not BaseHTTPMiddleware) so that WebSocket scopes pass through the same
authentication and streaming responses are not buffered.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.auth.api_tokens import record_token_use, token_use_due
from portal.auth.sessions import (
    SESSION_COOKIE,
    Principal,
    load_api_token,
    load_session_principal,
    token_principal,
)
from portal.auth.tokens import new_secret, same
from portal.db import utcnow
from portal.errors import Forbidden
from portal.sdk import SCOPE_CSRF, SCOPE_PRINCIPAL, SCOPE_TENANT
from portal.services import Services

logger = logging.getLogger(__name__)

CSRF_COOKIE = "miportal_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
MAX_FORM_BYTES = 1024 * 1024
_NO_AUTH_PREFIXES = ("/static/", "/healthz", "/favicon.ico")
_CSRF_EXEMPT_PREFIXES = ("/static/", "/sync/")


def read_cookies(headers: Headers) -> dict[str, str]:
    # Starlette's parser, not http.cookies.SimpleCookie: SimpleCookie drops every cookie
    # once one value is malformed (a space or a quote in it), so an app window that sets
    # such a cookie on the shared origin would sign its user out.
    return cookie_parser(headers.get("cookie", ""))


class AuthMiddleware:
    """Put the principal (from the session cookie or a bearer token) into the scope."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(
                _NO_AUTH_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        principal = await self._principal(headers)
        scope[SCOPE_PRINCIPAL] = principal
        scope[SCOPE_TENANT] = principal.tenant_id if principal else None
        await self.app(scope, receive, send)

    async def _principal(self, headers: Headers) -> Principal | None:
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            return await self._token_principal(authorization[7:].strip())
        cookie = read_cookies(headers).get(SESSION_COOKIE)
        if not cookie:
            return None
        async with self.services.db.read() as session:
            return await load_session_principal(session, cookie)

    async def _token_principal(self, token: str) -> Principal | None:
        async with self.services.db.read() as session:
            row = await load_api_token(session, token)
            principal = None if row is None else await token_principal(session, row)
        # Only a request that finds the stored last use older than the interval writes,
        # after the read session is closed, so most token requests stay read-only.
        if row is not None and principal is not None and token_use_due(row.last_used_at,
                                                                       utcnow()):
            assert row.id is not None
            await record_token_use(self.services.db, row.id)
        return principal


class CsrfMiddleware:
    """Require a CSRF token on every unsafe request that a browser's cookies authorize.

    A signed-in session's token is checked against the session. Requests without a
    session (the sign-in form, public app forms) use a double-submit cookie. The token
    comes in the `X-CSRF-Token` header or, for urlencoded forms, the `csrf_token` field;
    multipart forms carry it in the query string. Bearer-token requests carry no ambient
    authority and are exempt.
    """

    def __init__(self, app: ASGIApp, *, secure_cookies: bool) -> None:
        self.app = app
        self.secure_cookies = secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The sync endpoint authenticates each request by its HMAC signature and reads
        # no cookie, so a cross-site form gains nothing there.
        if scope["type"] != "http" or scope["path"].startswith(_CSRF_EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        principal: Principal | None = scope.get(SCOPE_PRINCIPAL)
        cookie_token = read_cookies(headers).get(CSRF_COOKIE)
        issued = None
        if principal is not None and principal.via == "session":
            expected = principal.csrf_token
        else:
            if not cookie_token or len(cookie_token) > 64:
                issued = cookie_token = new_secret()
            expected = cookie_token
        scope[SCOPE_CSRF] = expected

        # Any bearer request is exempt, valid or not: AuthMiddleware then ignores the
        # cookie, so the request can act only as the token's user, and a cross-site form
        # cannot set the header. An invalid token gets 401 from the route, not csrf_failed.
        bearer = headers.get("authorization", "").lower().startswith("bearer ")
        if scope["method"] not in SAFE_METHODS and not bearer:
            submitted, receive = await self._submitted_token(scope, headers, receive)
            if not expected or not submitted or not same(submitted, expected):
                logger.info("Rejected %s %s: missing or invalid CSRF token", scope["method"],
                            scope["path"])
                error = Forbidden("Missing or invalid CSRF token; reload the page and try "
                                  "again.", code="csrf_failed")
                await JSONResponse(error.as_json(), status_code=403)(scope, receive, send)
                return

        if issued is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.append("set-cookie", self._cookie(issued))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, value: str) -> str:
        secure = "; Secure" if self.secure_cookies else ""
        return f"{CSRF_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax{secure}"

    async def _submitted_token(self, scope: Scope, headers: Headers,
                               receive: Receive) -> tuple[str | None, Receive]:
        header = headers.get(CSRF_HEADER)
        if header:
            return header, receive
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            return (query.get(CSRF_FIELD) or [None])[0], receive
        if content_type != "application/x-www-form-urlencoded":
            return None, receive
        body, replay = await _buffer_body(receive, limit=MAX_FORM_BYTES)
        if body is None:
            return None, replay
        fields = parse_qs(body.decode("utf-8", errors="replace"))
        values = fields.get(CSRF_FIELD)
        return (values[0] if values else None), replay


async def _buffer_body(receive: Receive, *, limit: int) -> tuple[bytes | None, Receive]:
    """Read the whole body (up to `limit` bytes) and return a receive that replays it."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None, receive
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, receive
        chunks.append(chunk)
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


class SecurityHeadersMiddleware:
    """Add headers every response needs: no MIME sniffing, no framing by other sites."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "same-origin")
                # Frames are for the portal's own app windows only.
                headers.setdefault("x-frame-options", "SAMEORIGIN")
                headers.setdefault("content-security-policy", "frame-ancestors 'self'")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def client_address(scope: MutableMapping[str, Any]) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"
