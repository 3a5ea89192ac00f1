"""The one error type the portal raises for bad input and its JSON shape."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class PortalError(Exception):
    """A failure the caller can act on: a machine-readable code, an HTTP status and a
    message that names the bad value and the fix. HTTP and WebSocket handlers render it
    with `as_json()`."""

    code = "error"
    status = 400

    def __init__(
        self, message: str, *, code: str | None = None, status: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.field = field

    def as_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


class InvalidInput(PortalError):
    code = "invalid_input"
    status = 422


class NotAuthenticated(PortalError):
    code = "not_authenticated"
    status = 401


class Forbidden(PortalError):
    code = "forbidden"
    status = 403


class NotFound(PortalError):
    """Raised for missing rows and for rows of another tenant alike, so that an id never
    reveals whether it exists elsewhere."""

    code = "not_found"
    status = 404


class Conflict(PortalError):
    code = "conflict"
    status = 409


class TooManyRequests(PortalError):
    code = "too_many_requests"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def field_path(parts: Iterable[int | str], *, whole: str) -> str:
    """Render a validation location such as ("windows", 0, "width") as
    `windows[0].width`, or return `whole` for an empty location."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif text:
            text += f".{part}"
        else:
            text = str(part)
    return text or whole
