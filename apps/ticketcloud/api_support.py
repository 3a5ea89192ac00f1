"""Parsing and rendering shared by the REST API's handlers.

Every failure here raises a PortalError, which the portal renders as
`{"error": {"code", "message", "field"}}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from portal.sdk import InvalidInput, NotFound, Principal, Role, require_role

AGENT_ROLES = (Role.ADMIN, Role.AGENT)
# The JSON body of one API request. Ticket bodies are at most 50,000 characters, so
# 1 MiB leaves room for escaping without letting one request fill the memory.
MAX_JSON_BYTES = 1024 * 1024
# The largest row id SQLite stores; a larger id in a path cannot exist.
MAX_ROW_ID = 2**63 - 1


def require_agent(request: Request) -> Principal:
    """Return the caller when they are an agent or an admin, else raise Forbidden."""
    return require_role(request, *AGENT_ROLES)


def is_agent(who: Principal) -> bool:
    return who.role in AGENT_ROLES


async def read_json(request: Request, *, allowed: Iterable[str],
                    required: Iterable[str] = ()) -> dict[str, Any]:
    """Return the request's JSON object, or raise InvalidInput for a body that is not
    JSON, not an object, names a field outside `allowed` or lacks one of `required`."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_JSON_BYTES:
        raise InvalidInput(f"The JSON body is {int(length):,} bytes; the maximum is "
                           f"{MAX_JSON_BYTES:,}.", field="body")
    raw = await request.body()
    if len(raw) > MAX_JSON_BYTES:
        raise InvalidInput(f"The JSON body is {len(raw):,} bytes; the maximum is "
                           f"{MAX_JSON_BYTES:,}.", field="body")
    try:
        data = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidInput(f"The request body is not valid JSON ({error}); send a JSON "
                           "object with Content-Type application/json.") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"The request body must be a JSON object, not "
                           f"{type(data).__name__}.")
    check_known(data, allowed)
    for name in required:
        if name not in data:
            raise InvalidInput(f"The field {name!r} is missing.", field=name)
    return data


def path_id(request: Request, name: str) -> int:
    """Return the integer path parameter `name`; an id too large to store is not found."""
    value: int = request.path_params[name]
    if value > MAX_ROW_ID:
        raise NotFound(f"No row has the {name} {value}.", field=name)
    return value


def check_known(data: Mapping[str, object], allowed: Iterable[str]) -> None:
    """Raise InvalidInput naming the first field of `data` that is not in `allowed`."""
    known = set(allowed)
    for name in data:
        if name not in known:
            raise InvalidInput(f"Unknown field {name!r}; the known fields are "
                               f"{', '.join(sorted(known))}.", field=name)


def check_query(request: Request, allowed: Iterable[str]) -> dict[str, str]:
    """Return the query parameters, each given at most once and all in `allowed`."""
    known = set(allowed)
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise InvalidInput(f"Unknown query parameter {name!r}; the known parameters are "
                               f"{listed}.", field=name)
        if name in params:
            raise InvalidInput(f"The query parameter {name!r} is given twice; give it once.",
                               field=name)
        params[name] = value
    return params


def json_response(content: Any, *, status_code: int = 200,
                  headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(content, status_code=status_code, headers=dict(headers or {}))
