"""Sign-in with throttling that reveals nothing about which accounts exist.

Failed sign-ins are limited per account key (workspace and email, whether or not the
account exists) and per client address, with the portal's shared rate limits, so the
limits hold across every portal process. `do_start_attempt` counts each attempt as a
failure before the password is checked, in a transaction of its own, so concurrent
guesses cannot all pass the check before any failure is recorded. `do_settle_success`
takes the count back when the password was right.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.auth.passwords import hash_password, needs_rehash, verify_password
from portal.auth.tokens import digest
from portal.errors import InvalidInput, TooManyRequests
from portal.models import Tenant, User
from portal.rate_limits import RateLimit, RateLimiter, RateLimitResult
from portal.tenants import find_user_by_email

logger = logging.getLogger(__name__)

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 30
ACCOUNT_FAILURES = RateLimit(name="portal.signin.account", max_hits=MAX_FAILURES_PER_ACCOUNT,
                             window_seconds=int(THROTTLE_WINDOW.total_seconds()))
ADDRESS_FAILURES = RateLimit(name="portal.signin.address", max_hits=MAX_FAILURES_PER_ADDRESS,
                             window_seconds=int(THROTTLE_WINDOW.total_seconds()))

INVALID_CREDENTIALS = "Invalid workspace, email or password."


def account_key(workspace: str, email: str) -> str:
    return digest(f"{workspace.strip().lower()}\x1f{email.strip().lower()}")


@dataclass(frozen=True)
class SignInAttempt:
    """One sign-in attempt, already counted as a failure of its account and address."""

    account_key: str
    client_address: str
    by_account: RateLimitResult
    by_address: RateLimitResult


async def do_start_attempt(limiter: RateLimiter, *, workspace: str, email: str,
                           client_address: str) -> SignInAttempt:
    """Count a sign-in attempt as a failure of its account and its address, and commit.

    Raises TooManyRequests, counting nothing, when either has too many failures in the
    window. An attempt that never settles, because the request failed, stays a failure.
    """
    key = account_key(workspace, email)
    async with limiter.db.transaction() as session:
        by_account = await limiter.hit(ACCOUNT_FAILURES, key, session=session)
        by_address = await limiter.hit(ADDRESS_FAILURES, client_address, session=session)
        if not (by_account.allowed and by_address.allowed):
            # Raising rolls back the hit that was allowed, so a rejected attempt counts
            # for neither limit.
            wait = max(by_account.retry_after, by_address.retry_after)
            logger.warning("Sign-in throttled for address %s (account limit reached: %s, "
                           "address limit reached: %s); retry after %s s", client_address,
                           not by_account.allowed, not by_address.allowed, wait)
            raise TooManyRequests(
                f"Too many failed sign-ins. Wait {_minutes(wait)} and try again, or ask "
                "your admin to reset your password.", retry_after=wait)
    return SignInAttempt(account_key=key, client_address=client_address,
                         by_account=by_account, by_address=by_address)


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


async def do_settle_success(limiter: RateLimiter, attempt: SignInAttempt) -> None:
    """Forget the account's failures and take the attempt back from its address, after
    the sign-in committed, so successful sign-ins of an office never throttle it."""
    async with limiter.db.transaction() as session:
        await limiter.reset(ACCOUNT_FAILURES, attempt.account_key, session=session)
        await limiter.release(ADDRESS_FAILURES, attempt.client_address, attempt.by_address,
                              session=session)


async def authenticate(
    session: AsyncSession, *, workspace: str, email: str, password: str, client_address: str,
) -> User:
    """Return the active user whose credentials match, or raise InvalidInput with one
    message for every kind of mismatch. The caller throttles with `do_start_attempt`
    before, and calls `do_settle_success` once the sign-in committed."""
    tenant = (await session.exec(select(Tenant).where(Tenant.slug == workspace.strip().lower()))
              ).first()
    user = None
    if tenant is not None and tenant.id is not None:
        user = await find_user_by_email(session, tenant.id, email)
    hash_to_check = user.password_hash if user is not None and user.is_active else None
    if not verify_password(hash_to_check, password):
        logger.info("Failed sign-in from address %s", client_address)
        raise InvalidInput(INVALID_CREDENTIALS, code="invalid_credentials", status=401)

    assert user is not None and user.password_hash is not None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


async def do_clear_failures(limiter: RateLimiter, session: AsyncSession, *, workspace: str,
                            email: str) -> None:
    """Forget an account's failed sign-ins (after a password reset), in `session`'s
    transaction."""
    await limiter.reset(ACCOUNT_FAILURES, account_key(workspace, email), session=session)
