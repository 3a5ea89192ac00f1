"""Server-side sessions behind an HttpOnly cookie, and the principal a request acts as."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.auth.tokens import API_TOKEN_PREFIX, digest, new_secret
from portal.db import utcnow
from portal.models import ApiToken, Role, Tenant, User, UserSession

logger = logging.getLogger(__name__)

SESSION_COOKIE = "miportal_session"


@dataclass(frozen=True)
class Principal:
    """The signed-in user a request or WebSocket acts as."""

    user_id: int
    tenant_id: int
    tenant_slug: str
    tenant_name: str
    role: Role
    name: str
    email: str
    via: Literal["session", "token"]
    csrf_token: str | None = None
    # The stored digest of the session cookie, so that signing out can close the
    # session's sockets; None for API tokens.
    session_key: str | None = None

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


async def do_create_session(session: AsyncSession, user: User, *, hours: int) -> tuple[str, str]:
    """Store a new session for `user`; return the cookie value and the CSRF token."""
    assert user.id is not None
    cookie_value = new_secret()
    csrf_token = new_secret()
    session.add(UserSession(
        token_hash=digest(cookie_value), user_id=user.id, tenant_id=user.tenant_id,
        csrf_token=csrf_token, expires_at=utcnow() + timedelta(hours=hours),
    ))
    logger.info("Signed in user %s of tenant %s", user.id, user.tenant_id)
    return cookie_value, csrf_token


async def load_session_principal(session: AsyncSession, cookie_value: str) -> Principal | None:
    """Return the principal of a live session, or None for unknown, expired or disabled."""
    if not cookie_value or len(cookie_value) > 128:
        return None
    row = await session.get(UserSession, digest(cookie_value))
    if row is None or row.expires_at <= utcnow():
        return None
    return await _principal(session, row.user_id, via="session", csrf_token=row.csrf_token,
                            session_key=row.token_hash)


async def load_token_principal(session: AsyncSession, token: str) -> Principal | None:
    row = await load_api_token(session, token)
    return None if row is None else await token_principal(session, row)


async def load_api_token(session: AsyncSession, token: str) -> ApiToken | None:
    """Return the stored row of a live API token, or None for unknown or revoked."""
    if not token.startswith(API_TOKEN_PREFIX) or len(token) > 128:
        return None
    statement = select(ApiToken).where(ApiToken.token_hash == digest(token))
    row = (await session.exec(statement)).first()
    if row is None or row.revoked_at is not None:
        return None
    return row


async def token_principal(session: AsyncSession, row: ApiToken) -> Principal | None:
    """Return the principal an API token acts as, or None when its user is disabled."""
    return await _principal(session, row.user_id, via="token")


async def do_delete_session(session: AsyncSession, cookie_value: str) -> None:
    statement = delete(UserSession).where(col(UserSession.token_hash) == digest(cookie_value))
    await session.exec(statement)


async def do_delete_user_sessions(session: AsyncSession, user_id: int) -> None:
    await session.exec(delete(UserSession).where(col(UserSession.user_id) == user_id))


async def do_issue_api_token(session: AsyncSession, user: User, *, name: str) -> str:
    """Store a new API token for `user` and return it; it is shown once, never stored."""
    _row, token = await do_add_api_token(session, user, name=name)
    return token


async def do_add_api_token(session: AsyncSession, user: User, *,
                           name: str) -> tuple[ApiToken, str]:
    """Store a new API token for `user` and return its row and its secret, which is shown
    once and never stored."""
    assert user.id is not None
    token = API_TOKEN_PREFIX + new_secret()
    row = ApiToken(tenant_id=user.tenant_id, user_id=user.id, name=name[:100],
                   token_hash=digest(token))
    session.add(row)
    await session.flush()
    logger.info("Issued API token %s (%r) for user %s of tenant %s", row.id, row.name,
                user.id, user.tenant_id)
    return row, token


async def _principal(
    session: AsyncSession, user_id: int, *, via: Literal["session", "token"],
    csrf_token: str | None = None, session_key: str | None = None,
) -> Principal | None:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    tenant = await session.get(Tenant, user.tenant_id)
    assert user.id is not None and tenant is not None
    return Principal(
        user_id=user.id, tenant_id=user.tenant_id, tenant_slug=tenant.slug,
        tenant_name=tenant.name, role=user.role, name=user.name, email=user.email, via=via,
        csrf_token=csrf_token, session_key=session_key,
    )
