"""Sign-in and sign-out pages."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from sqlmodel import func, select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.auth.links import LINK_LIFETIME, do_consume_link, do_request_link, find_link
from portal.auth.sessions import SESSION_COOKIE, do_create_session, do_delete_session
from portal.auth.signin import authenticate, do_settle_success, do_start_attempt
from portal.auth.tokens import digest
from portal.errors import InvalidInput, TooManyRequests
from portal.models import Tenant, User
from portal.sdk import SCOPE_CSRF, SCOPE_PRINCIPAL
from portal.services import Services
from portal.web.middleware import client_address, read_cookies
from portal.web.responses import render

logger = logging.getLogger(__name__)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _safe_next(value: str | None) -> str:
    """Allow only same-site paths as the post-sign-in target (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


async def _default_workspace(request: Request) -> str:
    requested = request.query_params.get("workspace", "")
    if requested:
        return requested[:63]
    async with _services(request).db.read() as session:
        count = (await session.exec(select(func.count()).select_from(Tenant))).one()
        if count == 1:
            return (await session.exec(select(Tenant.slug))).one()
    return ""


async def login_page(request: Request) -> Response:
    if request.scope.get(SCOPE_PRINCIPAL) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return render(request, "login.html", {
        "csrf_token": request.scope[SCOPE_CSRF], "workspace": await _default_workspace(request),
        "email": "", "error": None, "next": _safe_next(request.query_params.get("next")),
    })


async def login(request: Request) -> Response:
    services = _services(request)
    form = await request.form()
    workspace = str(form.get("workspace", ""))[:63].strip().lower()
    email = str(form.get("email", ""))[:254].strip()
    password = str(form.get("password", ""))
    next_path = _safe_next(str(form.get("next", "")))
    address = client_address(request.scope)
    try:
        # Committed before the password is checked, so the attempt counts as a failure
        # unless the sign-in succeeds.
        attempt = await do_start_attempt(services.rate_limiter, workspace=workspace,
                                         email=email, client_address=address)
        async with services.db.transaction() as session:
            user = await authenticate(session, workspace=workspace, email=email,
                                      password=password, client_address=address)
            cookie_value, _ = await do_create_session(session, user,
                                                      hours=services.settings.session_hours)
    except (InvalidInput, TooManyRequests) as error:
        status = error.status
        headers = {"retry-after": str(error.retry_after)} if isinstance(
            error, TooManyRequests) else {}
        page = render(request, "login.html", {
            "csrf_token": request.scope[SCOPE_CSRF], "workspace": workspace, "email": email,
            "error": error.message, "next": next_path,
        }, status_code=status)
        page.headers.update(headers)
        return page

    await do_settle_success(services.rate_limiter, attempt)
    return _signed_in(services, cookie_value, next_path)


def _signed_in(services: Services, cookie_value: str, next_path: str) -> Response:
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie_value,
                        max_age=services.settings.session_hours * 3600, httponly=True,
                        samesite="lax", secure=services.settings.secure_cookies)
    return response


async def logout(request: Request) -> Response:
    cookie = read_cookies(request.headers).get(SESSION_COOKIE)
    if cookie:
        services = _services(request)
        async with services.db.transaction() as session:
            await do_delete_session(session, cookie)
        await services.hub.close_session(digest(cookie))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response


async def link_request_page(request: Request) -> Response:
    return _link_page(request, "request", workspace=await _default_workspace(request))


async def request_link(request: Request) -> Response:
    """Send a sign-in link when the account exists; the answer is the same either way."""
    services = _services(request)
    form = await request.form()
    workspace = str(form.get("workspace", ""))[:63].strip().lower()
    email = str(form.get("email", ""))[:254].strip()
    try:
        async with services.db.transaction() as session:
            await do_request_link(session, services.mail, services.rate_limiter,
                                  workspace=workspace, email=email,
                                  client_address=client_address(request.scope))
    except TooManyRequests as error:
        page = _link_page(request, "request", workspace=workspace, email=email,
                          error=error.message, status_code=error.status)
        page.headers["retry-after"] = str(error.retry_after)
        return page
    return _link_page(request, "sent", workspace=workspace, email=email)


async def link_page(request: Request) -> Response:
    """Show the button that spends the link. Opening the link spends nothing, because
    mail scanners fetch links before the user clicks them."""
    token = request.path_params["token"]
    async with _services(request).db.read() as session:
        link = await find_link(session, token)
        user = await session.get(User, link.user_id) if link is not None else None
    if user is None or not user.is_active:
        return _link_page(request, "invalid", status_code=404)
    return _link_page(request, "confirm", email=user.email, token=token)


async def consume_link(request: Request) -> Response:
    services = _services(request)
    async with services.db.transaction() as session:
        user = await do_consume_link(session, request.path_params["token"])
        if user is None:
            cookie_value = None
        else:
            cookie_value, _ = await do_create_session(session, user,
                                                      hours=services.settings.session_hours)
    if cookie_value is None:
        return _link_page(request, "invalid", status_code=404)
    return _signed_in(services, cookie_value, "/")


def _link_page(request: Request, state: str, *, workspace: str = "", email: str = "",
               token: str = "", error: str | None = None, status_code: int = 200) -> Response:
    return render(request, "login_link.html", {
        "state": state, "csrf_token": request.scope[SCOPE_CSRF], "workspace": workspace,
        "email": email, "token": token, "error": error,
        "minutes": int(LINK_LIFETIME.total_seconds() // 60),
    }, status_code=status_code)


routes = [
    Route("/login/link", link_request_page, methods=["GET"]),
    Route("/login/link", request_link, methods=["POST"]),
    Route("/login/link/{token:str}", link_page, methods=["GET"]),
    Route("/login/link/{token:str}", consume_link, methods=["POST"]),
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
