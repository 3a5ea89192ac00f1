"""Tables owned by the portal. Every tenant-owned row carries `tenant_id`."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlalchemy import Enum as SqlEnum
from sqlmodel import Field, SQLModel

from portal.db import UTCDateTime, utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    CUSTOMER = "customer"


class InstallationStatus(enum.StrEnum):
    INSTALLED = "installed"
    UNINSTALLED = "uninstalled"


def _enum_column(enum_type: type[enum.StrEnum]) -> Any:
    # Stored as the lowercase value in a VARCHAR, so adding a member needs no migration.
    column_type = SqlEnum(enum_type, native_enum=False, length=16,
                          values_callable=lambda members: [member.value for member in members])
    return Field(sa_column=Column(column_type, nullable=False))


def _timestamp(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default_factory=utcnow if not nullable else None,
        sa_column=Column(UTCDateTime(), nullable=nullable, index=index),
    )


class Tenant(SQLModel, table=True):
    __tablename__ = "portal_tenant"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=63, unique=True)
    name: str = Field(max_length=200)
    created_at: datetime = _timestamp()


class User(SQLModel, table=True):
    __tablename__ = "portal_user"
    __table_args__ = (UniqueConstraint("tenant_id", "email", name="uq_portal_user_email"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    email: str = Field(max_length=254)
    name: str = Field(max_length=200)
    role: Role = _enum_column(Role)
    password_hash: str | None = Field(default=None, max_length=255)
    is_active: bool = True
    time_zone: str = Field(default="UTC", max_length=64)
    created_at: datetime = _timestamp()


class UserSession(SQLModel, table=True):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored."""

    __tablename__ = "portal_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="portal_user.id", index=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id")
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _timestamp()
    expires_at: datetime = _timestamp(index=True)


class ApiToken(SQLModel, table=True):
    """A per-user bearer token for scripts. Only the SHA-256 of the secret is stored."""

    __tablename__ = "portal_api_token"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    user_id: int = Field(foreign_key="portal_user.id", index=True)
    name: str = Field(max_length=100)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _timestamp()
    last_used_at: datetime | None = _timestamp(nullable=True)
    revoked_at: datetime | None = _timestamp(nullable=True)


class AppInstallation(SQLModel, table=True):
    __tablename__ = "portal_app_installation"
    __table_args__ = (UniqueConstraint("tenant_id", "app_id", name="uq_portal_app_installation"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    app_id: str = Field(max_length=64)
    version: str = Field(max_length=64)
    status: InstallationStatus = _enum_column(InstallationStatus)
    changed_at: datetime = _timestamp()


class DesktopLayout(SQLModel, table=True):
    __tablename__ = "portal_desktop_layout"

    user_id: int = Field(foreign_key="portal_user.id", primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    layout: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    updated_at: datetime = _timestamp()


class EventCounter(SQLModel, table=True):
    """The last event sequence number handed out per tenant."""

    __tablename__ = "portal_event_counter"

    tenant_id: int = Field(foreign_key="portal_tenant.id", primary_key=True)
    last_seq: int = 0


class EventRecord(SQLModel, table=True):
    """A published event, kept so that a reconnecting desktop can catch up."""

    __tablename__ = "portal_event"
    __table_args__ = (UniqueConstraint("tenant_id", "seq", name="uq_portal_event_seq"),)

    id: str = Field(primary_key=True, max_length=36)
    tenant_id: int = Field(foreign_key="portal_tenant.id")
    seq: int
    topic: str = Field(max_length=128)
    time: datetime = _timestamp()
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    notification: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    audience_users: list[int] = Field(sa_column=Column(JSON, nullable=False))
    audience_roles: list[str] = Field(sa_column=Column(JSON, nullable=False))


class JobLease(SQLModel, table=True):
    """Who may run a named piece of work until when, shared by every portal process."""

    __tablename__ = "portal_job_lease"

    name: str = Field(primary_key=True, max_length=200)
    owner: str = Field(max_length=200)
    acquired_at: datetime = _timestamp()
    expires_at: datetime = _timestamp()
