"""The sync transport's tables: identity, the master (on a child), peers (on a master),
the outbox and the nonces of recent requests."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlalchemy import Enum as SqlEnum
from sqlmodel import Field, SQLModel

from portal.db import UTCDateTime, utcnow

# The single row of the singleton tables.
SINGLETON_ID = 1


class OutboxStatus(enum.StrEnum):
    """The lifecycle of an outbox item: pending until the master acknowledged it.

    NOTE: delivered is final. `outbox.do_mark_delivered` updates only pending rows, and
    nothing moves a row back, so the master's acknowledgement is the only way out.
    """

    PENDING = "pending"
    DELIVERED = "delivered"


def _timestamp(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default_factory=None if nullable else utcnow,
                 sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class SyncIdentity(SQLModel, table=True):
    """This installation's id, generated once and never changed."""

    __tablename__ = "portal_sync_identity"

    id: int = Field(default=SINGLETON_ID, primary_key=True)
    installation_id: str = Field(max_length=32)
    created_at: datetime = _timestamp()


class SyncMaster(SQLModel, table=True):
    """On a child: the master it pushes to, and the state of the push loop."""

    __tablename__ = "portal_sync_master"

    id: int = Field(default=SINGLETON_ID, primary_key=True)
    url: str = Field(max_length=500)
    # The shared HMAC key. It is stored as given because signing needs the key itself.
    secret: str = Field(max_length=128)
    # Learned from the master's first acknowledgement.
    master_installation_id: str | None = Field(default=None, max_length=32)
    failures: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_attempt_at: datetime | None = _timestamp(nullable=True)
    last_success_at: datetime | None = _timestamp(nullable=True)
    next_attempt_at: datetime | None = _timestamp(nullable=True)
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()


class SyncPeer(SQLModel, table=True):
    """On a master: a registered child, the workspace its documents go to, and its
    contact statistics."""

    __tablename__ = "portal_sync_peer"

    id: int | None = Field(default=None, primary_key=True)
    installation_id: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    secret: str = Field(max_length=128)
    last_contact_at: datetime | None = _timestamp(nullable=True)
    last_success_at: datetime | None = _timestamp(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_error_at: datetime | None = _timestamp(nullable=True)
    error_count: int = 0
    batches_received: int = 0
    items_applied: int = 0
    created_at: datetime = _timestamp()


class SyncOutboxItem(SQLModel, table=True):
    """One document an app staged for the master, in the transaction of its change."""

    __tablename__ = "portal_sync_outbox"
    __table_args__ = (
        Index("ix_portal_sync_outbox_status", "status", "id"),
        Index("ix_portal_sync_outbox_stream", "tenant_id", "app_id", "stream"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id")
    app_id: str = Field(max_length=64)
    # The app's ordering key, such as "ticket:17"; items of one stream arrive in id order.
    stream: str = Field(max_length=100)
    # The app's payload element, serialized as UTF-8 XML.
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: OutboxStatus = Field(
        default=OutboxStatus.PENDING,
        sa_column=Column(SqlEnum(OutboxStatus, native_enum=False, length=16,
                                 values_callable=lambda members: [m.value for m in members]),
                         nullable=False))
    attempts: int = 0
    created_at: datetime = _timestamp()
    delivered_at: datetime | None = _timestamp(nullable=True)


class SyncNonce(SQLModel, table=True):
    """A nonce a peer used recently; a second request with it is a replay."""

    __tablename__ = "portal_sync_nonce"
    __table_args__ = (UniqueConstraint("peer_id", "nonce", name="uq_portal_sync_nonce"),)

    id: int | None = Field(default=None, primary_key=True)
    peer_id: int = Field(foreign_key="portal_sync_peer.id")
    nonce: str = Field(max_length=64)
    expires_at: datetime = _timestamp(index=True)
