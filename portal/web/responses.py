"""Rendering helpers shared by the portal's handlers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.templating import Jinja2Templates

from portal.db import MAX_ROW_ID
from portal.errors import InvalidInput, NotFound, PortalError, TooManyRequests

logger = logging.getLogger(__name__)

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))

_HTTP_CODES = {400: "bad_request", 401: "not_authenticated", 403: "forbidden",
               404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def path_id(request: Request, name: str) -> int:
    """Return the `{name:int}` path parameter of `request`. Raise NotFound, naming the
    parameter, for a number past `MAX_ROW_ID`, which names no row."""
    value: int = request.path_params[name]
    if not 0 < value <= MAX_ROW_ID:
        raise NotFound(f"No row has the {name} {value}.", field=name)
    return value


async def read_json_object(request: Request, *, max_bytes: int, hint: str) -> dict[str, Any]:
    """Return the request body as a JSON object. Raise InvalidInput for a body over
    `max_bytes`, invalid JSON or another JSON value. `hint` completes "send a JSON
    object ..." in the message, such as 'of the settings to change'."""
    body = await request.body()
    if len(body) > max_bytes:
        raise InvalidInput(f"The request body is {len(body)} bytes; the maximum is "
                           f"{max_bytes}.")
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidInput(f"The request body is not valid JSON; send a JSON object "
                           f"{hint}.") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"Send a JSON object {hint}.")
    return data


def check_query_names(request: Request, allowed: Iterable[str]) -> None:
    """Raise InvalidInput for a query parameter not in `allowed`, or one given twice, so
    that a mistyped filter is an error instead of a silently unfiltered list."""
    known = set(allowed)
    seen: set[str] = set()
    for name, _value in request.query_params.multi_items():
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise InvalidInput(f"Unknown query parameter {name!r}; the known parameters are "
                               f"{listed}.", field=name)
        if name in seen:
            raise InvalidInput(f"The query parameter {name!r} is given twice; give it once.",
                               field=name)
        seen.add(name)


def wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.method == "GET" and "text/html" in accept and not request.url.path.startswith(
        "/api/")


def render(request: Request, template: str, context: dict[str, Any], *,
           status_code: int = 200) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


async def portal_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PortalError)
    headers = {"retry-after": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
    if wants_html(request):
        return render(request, "error.html", {"status": exc.status, "message": exc.message},
                      status_code=exc.status)
    return JSONResponse(exc.as_json(), status_code=exc.status, headers=headers)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "Request failed."
    if exc.status_code == 404:
        message = f"Nothing found at {request.url.path}."
    if wants_html(request):
        return render(request, "error.html", {"status": exc.status_code, "message": message},
                      status_code=exc.status_code)
    return JSONResponse({"error": {"code": code, "message": message}},
                        status_code=exc.status_code, headers=exc.headers)


async def internal_error_handler(request: Request, exc: Exception) -> Response:
    logger.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": {"code": "internal_error",
                                   "message": "The server failed to handle the request; the "
                                              "error is in its log."}}, status_code=500)
