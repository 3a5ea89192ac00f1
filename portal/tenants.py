"""Tenants and users: creation, lookup and the tenant-scoped access helpers."""

from __future__ import annotations

import logging
import re
from typing import TypeVar

from sqlalchemy import func
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.auth.passwords import hash_password
from portal.db import get_kept
from portal.errors import Conflict, InvalidInput, NotFound
from portal.models import EventCounter, Role, Tenant, User

logger = logging.getLogger(__name__)

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# A pragmatic shape check; deliverability is the mail system's business.
EMAIL_PATTERN = re.compile(r"^[^@\s\x00-\x1f<>\"]{1,64}@[A-Za-z0-9.-]{1,252}\.[A-Za-z]{2,63}$")

TenantRow = TypeVar("TenantRow", bound=SQLModel)


def check_slug(slug: str) -> str:
    if not SLUG_PATTERN.match(slug):
        raise InvalidInput(
            f"Invalid workspace name {slug!r}: use 1 to 63 lowercase letters, digits and "
            "hyphens, not starting or ending with a hyphen.", field="slug")
    return slug


def check_email(email: str) -> str:
    email = email.strip()
    if not EMAIL_PATTERN.match(email):
        raise InvalidInput(f"Invalid email address {email!r}: expected name@example.com.",
                           field="email")
    return email.lower()


def check_name(name: str, *, field: str = "name") -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput(f"The {field} must be 1 to 200 characters long.", field=field)
    return name


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(member.value for member in Role)
        raise InvalidInput(f"Unknown role {role!r}: choose one of {choices}.",
                           field="role") from None


async def get_tenant(session: AsyncSession, tenant_id: int) -> Tenant:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"Tenant {tenant_id} not found.")
    return tenant


async def get_tenant_by_slug(session: AsyncSession, slug: str) -> Tenant:
    tenant = (await session.exec(select(Tenant).where(Tenant.slug == slug))).first()
    if tenant is None:
        raise NotFound(f"Workspace {slug!r} not found; check the name or ask your admin.")
    return tenant


async def do_create_tenant(session: AsyncSession, *, slug: str, name: str) -> Tenant:
    slug = check_slug(slug)
    existing = (await session.exec(select(Tenant).where(Tenant.slug == slug))).first()
    if existing is not None:
        raise Conflict(f"Workspace {slug!r} already exists; choose another name.",
                       field="slug")
    tenant = Tenant(slug=slug, name=check_name(name))
    session.add(tenant)
    await session.flush()
    assert tenant.id is not None
    session.add(EventCounter(tenant_id=tenant.id, last_seq=0))
    logger.info("Created tenant %s (%s)", tenant.id, slug)
    return tenant


async def find_user_by_email(session: AsyncSession, tenant_id: int, email: str) -> User | None:
    statement = select(User).where(User.tenant_id == tenant_id,
                                   func.lower(User.email) == email.strip().lower())
    return (await session.exec(statement)).first()


async def do_create_user(
    session: AsyncSession, *, tenant_id: int, email: str, name: str, role: str,
    password: str | None,
) -> User:
    email = check_email(email)
    if await find_user_by_email(session, tenant_id, email) is not None:
        raise Conflict(f"A user with email {email!r} already exists in this workspace.",
                       field="email")
    user = User(
        tenant_id=tenant_id, email=email, name=check_name(name), role=check_role(role),
        password_hash=hash_password(password) if password is not None else None,
    )
    session.add(user)
    await session.flush()
    logger.info("Created user %s with role %s in tenant %s", user.id, user.role, tenant_id)
    return user


async def access_user(session: AsyncSession, tenant_id: int, user_id: int) -> User:
    """Load a user of this tenant; another tenant's user is not found."""
    return await access_row(session, User, tenant_id, user_id)


async def access_row(
    session: AsyncSession, model: type[TenantRow], tenant_id: int, row_id: object,
) -> TenantRow:
    """Load one tenant-owned row by primary key, or raise NotFound when it is missing or
    belongs to another tenant (the two are indistinguishable to the caller)."""
    row = await get_kept(session, model, row_id)
    if row is None or getattr(row, "tenant_id", None) != tenant_id:
        raise NotFound(f"{model.__name__} {row_id!r} not found.")
    return row
