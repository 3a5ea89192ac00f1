"""Tables of inbound mail: stored messages and the routes from addresses to apps."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models import _enum_column, _timestamp

MAX_ADDRESS = 254
MAX_MESSAGE_ID = 998


class InboundStatus(enum.StrEnum):
    """The lifecycle of a stored message: received, then processed by the app, or
    quarantined when parsing or the app's handler failed (an admin may replay it), or
    rejected when it is over a hard limit and cannot be parsed at all."""

    RECEIVED = "received"
    PROCESSED = "processed"
    QUARANTINED = "quarantined"
    REJECTED = "rejected"


# The allowed status transitions. A replay moves a quarantined message back through
# processing; nothing leaves `processed` or `rejected`.
INBOUND_TRANSITIONS: dict[InboundStatus, frozenset[InboundStatus]] = {
    InboundStatus.RECEIVED: frozenset({InboundStatus.PROCESSED, InboundStatus.QUARANTINED,
                                       InboundStatus.REJECTED}),
    InboundStatus.QUARANTINED: frozenset({InboundStatus.PROCESSED, InboundStatus.QUARANTINED,
                                          InboundStatus.REJECTED}),
    InboundStatus.PROCESSED: frozenset(),
    InboundStatus.REJECTED: frozenset(),
}


class MailRoute(SQLModel, table=True):
    """A recipient address that delivers to one app of one tenant. The address is stored
    lowercased and is unique across tenants, because the recipient alone tells which
    workspace a message is for."""

    __tablename__ = "portal_mail_route"
    __table_args__ = (UniqueConstraint("address", name="uq_portal_mail_route_address"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    app_id: str = Field(max_length=64)
    address: str = Field(max_length=MAX_ADDRESS)
    created_at: datetime = _timestamp()


class InboundMail(SQLModel, table=True):
    """One message for one routed recipient. Its raw bytes are in `InboundRaw`, committed
    with this row, or for a message over `inbound.INLINE_MAX_BYTES` in the data folder
    under `mail/inbound/<sha256[:2]>/<sha256>.eml`, written and fsynced before this row
    commits. A message is stored once per tenant and app: by Message-ID, or by SHA-256
    when it has none."""

    __tablename__ = "portal_mail_inbound"
    __table_args__ = (
        UniqueConstraint("tenant_id", "app_id", "message_id",
                         name="uq_portal_mail_inbound_message_id"),
        UniqueConstraint("tenant_id", "app_id", "sha256", name="uq_portal_mail_inbound_sha256"),
        Index("ix_portal_mail_inbound_status", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    app_id: str = Field(max_length=64)
    recipient: str = Field(max_length=MAX_ADDRESS)
    envelope_sender: str = Field(default="", max_length=MAX_ADDRESS)
    message_id: str | None = Field(default=None, max_length=MAX_MESSAGE_ID)
    sha256: str = Field(max_length=64)
    size: int
    status: InboundStatus = _enum_column(InboundStatus)
    outcome: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    subject: str = Field(default="", max_length=300)
    from_address: str = Field(default="", max_length=MAX_ADDRESS)
    attempts: int = 0
    received_at: datetime = _timestamp()
    processed_at: datetime | None = _timestamp(nullable=True)


class InboundRaw(SQLModel, table=True):
    """The raw bytes of a stored message that is small enough to keep in the database,
    in a table of its own so that loading `InboundMail` rows never reads them."""

    __tablename__ = "portal_mail_raw"

    inbound_id: int = Field(sa_column=Column(
        Integer, ForeignKey("portal_mail_inbound.id", ondelete="CASCADE"), primary_key=True,
        autoincrement=False))
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


def transition(row: InboundMail, status: InboundStatus) -> None:
    """Move `row` to `status`, or raise ValueError for a move the lifecycle forbids."""
    if status not in INBOUND_TRANSITIONS[row.status]:
        raise ValueError(f"Inbound mail {row.id} cannot go from {row.status.value} to "
                         f"{status.value}")
    row.status = status
