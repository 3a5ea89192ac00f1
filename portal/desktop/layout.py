"""Validating and storing a user's window layout."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import utcnow
from portal.errors import InvalidInput, field_path
from portal.models import DesktopLayout

MAX_LAYOUT_BYTES = 64 * 1024
MAX_WINDOWS = 50

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
ParamKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
ParamValue = Annotated[str, StringConstraints(max_length=512)]


class WindowLayout(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: Identifier
    app: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,31}$")]
    type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
    params: dict[ParamKey, ParamValue] = Field(default_factory=dict, max_length=32)
    title: Annotated[str, StringConstraints(max_length=200)] = ""
    x: int = Field(ge=-10_000, le=10_000)
    y: int = Field(ge=-10_000, le=10_000)
    width: int = Field(ge=120, le=10_000)
    height: int = Field(ge=80, le=10_000)
    state: Literal["normal", "minimized", "maximized"]


class Layout(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    version: Literal[1]
    windows: list[WindowLayout] = Field(max_length=MAX_WINDOWS)
    focused: Identifier | None = None


def parse_layout(body: bytes) -> dict[str, Any]:
    """Validate a layout document and return it; InvalidInput names the bad field."""
    if len(body) > MAX_LAYOUT_BYTES:
        raise InvalidInput(f"The layout is {len(body)} bytes; the maximum is "
                           f"{MAX_LAYOUT_BYTES}. Close some windows.", code="invalid_layout")
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInput(f"The layout is not valid JSON: {error}.",
                           code="invalid_layout") from error
    try:
        layout = Layout.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = field_path(first["loc"], whole="(layout)")
        raise InvalidInput(f"Invalid layout field {field}: {first['msg']}.",
                           code="invalid_layout", field=field) from error
    ids = [window.id for window in layout.windows]
    if len(set(ids)) != len(ids):
        raise InvalidInput("Invalid layout field windows: window ids must be unique.",
                           code="invalid_layout", field="windows")
    if layout.focused is not None and layout.focused not in ids:
        raise InvalidInput(f"Invalid layout field focused: no window has id "
                           f"{layout.focused!r}.", code="invalid_layout", field="focused")
    return layout.model_dump()


async def load_layout(session: AsyncSession, user_id: int) -> dict[str, Any] | None:
    row = await session.get(DesktopLayout, user_id)
    return row.layout if row is not None else None


async def do_save_layout(session: AsyncSession, *, tenant_id: int, user_id: int,
                         layout: dict[str, Any]) -> None:
    row = await session.get(DesktopLayout, user_id)
    if row is None:
        row = DesktopLayout(user_id=user_id, tenant_id=tenant_id, layout=layout)
    row.layout = layout
    row.updated_at = utcnow()
    session.add(row)
