"""Emailed sign-in links: single-use tokens that sign a user in without a password.

A link request always gets the same response, whether or not the account exists, so
the form reveals no accounts. Requests are throttled per account key (workspace and
email, whether or not they exist) and per client address, with the portal's shared rate
limits in the request's transaction, so the limits hold across processes. A token is 256
random bits; only its SHA-256 is stored, with a 15-minute expiry. Opening the link shows
a page whose button POSTs the token, because mail scanners that prefetch links must not
spend it; the POST spends it with one UPDATE, so it works once even under concurrent use.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, delete, select, update
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.auth.signin import account_key
from portal.auth.tokens import digest, new_secret
from portal.db import UTCDateTime, utcnow
from portal.errors import TooManyRequests
from portal.mail.compose import MailAddress, OutgoingMail
from portal.mail.outbox import MailGateway
from portal.models import Tenant, User
from portal.rate_limits import RateLimit, RateLimiter
from portal.tenants import find_user_by_email

logger = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(minutes=15)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_LINKS_PER_ACCOUNT = 3
# As many as failed password sign-ins, since an office behind one NAT address shares it.
MAX_LINKS_PER_ADDRESS = 30
LINKS_PER_ACCOUNT = RateLimit(name="portal.signin_link.account", max_hits=MAX_LINKS_PER_ACCOUNT,
                              window_seconds=int(THROTTLE_WINDOW.total_seconds()))
LINKS_PER_ADDRESS = RateLimit(name="portal.signin_link.address", max_hits=MAX_LINKS_PER_ADDRESS,
                              window_seconds=int(THROTTLE_WINDOW.total_seconds()))
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


@dataclass(frozen=True)
class LinkRequest:
    """The outcome of `do_request_link`; `user_id` is for logs and tests, never for the
    page."""

    user_id: int | None


async def do_request_link(session: AsyncSession, mail: MailGateway, limiter: RateLimiter, *,
                          workspace: str, email: str, client_address: str) -> LinkRequest:
    """Count the request and, when the workspace has an active user with that email,
    store a new link and queue it by mail. Raises TooManyRequests when the account key
    or the client address made too many requests; that response too is the same for every
    account. The caller's transaction must roll back on that error, which takes back the
    hit that was counted."""
    await _check_throttle(session, limiter, account_key(workspace, email), client_address)
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
    """Delete links that expired more than the throttle window ago."""
    await session.exec(delete(SignInLink).where(
        col(SignInLink.expires_at) < utcnow() - THROTTLE_WINDOW))


async def _find_user(session: AsyncSession, workspace: str, email: str) -> User | None:
    tenant = (await session.exec(select(Tenant).where(  # type: ignore[call-overload]
        col(Tenant.slug) == workspace.strip().lower()))).scalars().first()
    if tenant is None or tenant.id is None:
        return None
    user = await find_user_by_email(session, tenant.id, email)
    return user if user is not None and user.is_active else None


async def _check_throttle(session: AsyncSession, limiter: RateLimiter, key: str,
                          client_address: str) -> None:
    by_account = await limiter.hit(LINKS_PER_ACCOUNT, key, session=session)
    by_address = await limiter.hit(LINKS_PER_ADDRESS, client_address, session=session)
    if by_account.allowed and by_address.allowed:
        return
    wait = max(by_account.retry_after, by_address.retry_after)
    logger.warning("Sign-in link requests throttled for address %s (account limit reached: "
                   "%s, address limit reached: %s); retry after %s s", client_address,
                   not by_account.allowed, not by_address.allowed, wait)
    minutes = max(1, math.ceil(wait / 60))
    raise TooManyRequests(f"Too many sign-in links were requested. Wait {minutes} "
                          f"minute{'' if minutes == 1 else 's'} and try again.",
                          retry_after=wait)
