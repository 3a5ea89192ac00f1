"""Emailed sign-in links: single-use tokens that sign a user in without a password.

A link request always gets the same response, whether or not the account exists, so
the form reveals no accounts. Requests are throttled per account key (workspace and
email, whether or not they exist) and per client address. A token is 256 random bits;
only its SHA-256 is stored, with a 15-minute expiry. Opening the link shows a page
whose button POSTs the token, because mail scanners that prefetch links must not spend
it; the POST spends it with one UPDATE, so it works once even under concurrent use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Index, delete, func, select, update
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.auth.signin import account_key
from portal.auth.tokens import digest, new_secret
from portal.db import UTCDateTime, utcnow
from portal.errors import TooManyRequests
from portal.mail.compose import MailAddress, OutgoingMail
from portal.mail.outbox import MailGateway
from portal.models import Tenant, User
from portal.tenants import find_user_by_email

logger = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(minutes=15)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_LINKS_PER_ACCOUNT = 3
# As many as failed password sign-ins, since an office behind one NAT address shares it.
MAX_LINKS_PER_ADDRESS = 30
MAIL_APP_ID = "portal"
LINK_PATH = "/login/link/"


class SignInLink(SQLModel, table=True):
    """An emailed sign-in link; only the SHA-256 of its token is stored."""

    __tablename__ = "portal_signin_link"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    user_id: int = Field(foreign_key="portal_user.id", index=True)
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class SignInLinkRequest(SQLModel, table=True):
    """One request for a sign-in link, for throttling, whether or not the account exists."""

    __tablename__ = "portal_signin_link_request"
    __table_args__ = (
        Index("ix_portal_signin_link_request_account", "account_key", "requested_at"),
        Index("ix_portal_signin_link_request_address", "client_address", "requested_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_key: str = Field(max_length=64)
    client_address: str = Field(max_length=64)
    requested_at: datetime = Field(default_factory=utcnow,
                                   sa_column=Column(UTCDateTime(), nullable=False))


@dataclass(frozen=True)
class LinkRequest:
    """The outcome of `do_request_link`; `user_id` is for logs and tests, never for the
    page."""

    user_id: int | None


async def do_request_link(session: AsyncSession, mail: MailGateway, *, workspace: str,
                          email: str, client_address: str) -> LinkRequest:
    """Record the request and, when the workspace has an active user with that email,
    store a new link and queue it by mail. Raises TooManyRequests when the account key
    or the client address made too many requests; that response too is the same for every
    account."""
    key = account_key(workspace, email)
    await _check_throttle(session, key, client_address)
    session.add(SignInLinkRequest(account_key=key, client_address=client_address[:64]))
    user = await _find_user(session, workspace, email)
    if user is None:
        logger.info("Sign-in link requested from address %s for no active account",
                    client_address)
        return LinkRequest(user_id=None)
    assert user.id is not None
    token = new_secret()
    session.add(SignInLink(token_hash=digest(token), tenant_id=user.tenant_id,
                           user_id=user.id, expires_at=utcnow() + LINK_LIFETIME))
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    link = mail.public_url + LINK_PATH + token
    await mail.stage(session, tenant_id=user.tenant_id, app_id=MAIL_APP_ID, mail=OutgoingMail(
        ref=f"signin:{user.id}", to=[MailAddress(user.email, user.name)],
        subject="Your sign-in link",
        text=(f"Hello {user.name},\n\nOpen this link to sign in to MiPortal:\n\n{link}\n\n"
              f"It works once, within {minutes} minutes. If you did not ask for it, ignore "
              "this message; nobody can sign in without opening the link.\n"),
        auto_submitted="auto-generated"))
    logger.info("Sent a sign-in link to user %s of tenant %s", user.id, user.tenant_id)
    return LinkRequest(user_id=user.id)


async def find_link(session: AsyncSession, token: str) -> SignInLink | None:
    """Return the unused, unexpired link of `token`, or None."""
    if not token or len(token) > 128:
        return None
    link = (await session.exec(select(SignInLink).where(  # type: ignore[call-overload]
        col(SignInLink.token_hash) == digest(token)))).scalars().first()
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        return None
    assert isinstance(link, SignInLink)
    return link


async def do_consume_link(session: AsyncSession, token: str) -> User | None:
    """Spend the link of `token` and return its active user, or None when the token is
    unknown, used, expired, or its user was disabled."""
    if not token or len(token) > 128:
        return None
    now = utcnow()
    statement = (update(SignInLink)
                 .where(col(SignInLink.token_hash) == digest(token),
                        col(SignInLink.used_at).is_(None), col(SignInLink.expires_at) > now)
                 .values(used_at=now)
                 .returning(col(SignInLink.user_id))
                 .execution_options(synchronize_session=False))
    user_id = (await session.exec(statement)).scalar_one_or_none()
    if user_id is None:
        return None
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    logger.info("User %s of tenant %s signed in with an emailed link", user.id, user.tenant_id)
    return user


async def do_prune_links(session: AsyncSession) -> None:
    """Delete expired links and throttle records older than the window."""
    now = utcnow()
    await session.exec(delete(SignInLink).where(
        col(SignInLink.expires_at) < now - THROTTLE_WINDOW))
    await session.exec(delete(SignInLinkRequest).where(
        col(SignInLinkRequest.requested_at) < now - THROTTLE_WINDOW))


async def _find_user(session: AsyncSession, workspace: str, email: str) -> User | None:
    tenant = (await session.exec(select(Tenant).where(  # type: ignore[call-overload]
        col(Tenant.slug) == workspace.strip().lower()))).scalars().first()
    if tenant is None or tenant.id is None:
        return None
    user = await find_user_by_email(session, tenant.id, email)
    return user if user is not None and user.is_active else None


async def _check_throttle(session: AsyncSession, key: str, client_address: str) -> None:
    since = utcnow() - THROTTLE_WINDOW
    by_account = await _count(session, col(SignInLinkRequest.account_key) == key, since)
    by_address = await _count(session, col(SignInLinkRequest.client_address) == client_address,
                              since)
    if by_account >= MAX_LINKS_PER_ACCOUNT or by_address >= MAX_LINKS_PER_ADDRESS:
        logger.warning("Sign-in link requests throttled for address %s (%s for the account, "
                       "%s from the address)", client_address, by_account, by_address)
        minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
        raise TooManyRequests(f"Too many sign-in links were requested. Wait {minutes} minutes "
                              "and try again.", retry_after=int(THROTTLE_WINDOW.total_seconds()))


async def _count(session: AsyncSession, condition: Any, since: datetime) -> int:
    statement = select(func.count()).select_from(SignInLinkRequest).where(
        condition, col(SignInLinkRequest.requested_at) >= since)
    return int((await session.exec(statement)).scalar_one())  # type: ignore[call-overload]
