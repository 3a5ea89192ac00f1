"""Column types shared by TicketCloud's tables."""

from __future__ import annotations

import enum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from portal.sdk import UTCDateTime, utcnow


def timestamp(*, nullable: bool = False, index: bool = False) -> Any:
    """Declare a UTC timestamp field; a required one defaults to the current time."""
    return Field(
        default_factory=None if nullable else utcnow,
        sa_column=sa.Column(UTCDateTime(), nullable=nullable, index=index),
    )


def enum_field(enum_type: type[enum.StrEnum], *, default: enum.StrEnum | None = None) -> Any:
    """Declare an enum field stored as its lowercase value in a VARCHAR, so that adding a
    member needs no migration."""
    column_type = sa.Enum(enum_type, native_enum=False, length=16,
                          values_callable=lambda members: [member.value for member in members])
    return Field(default=default, sa_column=sa.Column(column_type, nullable=False))


def json_field(*, default_factory: Any = list) -> Any:
    """Declare a JSON field that is never NULL."""
    return Field(default_factory=default_factory, sa_column=sa.Column(sa.JSON, nullable=False))
