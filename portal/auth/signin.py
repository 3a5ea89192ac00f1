"""Sign-in with throttling that reveals nothing about which accounts exist."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.auth.passwords import hash_password, needs_rehash, verify_password
from portal.auth.tokens import digest
from portal.db import utcnow
from portal.errors import InvalidInput, TooManyRequests
from portal.models import LoginAttempt, Tenant, User
from portal.tenants import find_user_by_email

logger = logging.getLogger(__name__)

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 30

INVALID_CREDENTIALS = "Invalid workspace, email or password."


def account_key(workspace: str, email: str) -> str:
    return digest(f"{workspace.strip().lower()}\x1f{email.strip().lower()}")


async def check_throttle(session: AsyncSession, key: str, client_address: str) -> None:
    since = utcnow() - THROTTLE_WINDOW
    account_failures = await _count(session, col(LoginAttempt.account_key) == key, since)
    address_failures = await _count(
        session, col(LoginAttempt.client_address) == client_address, since)
    if account_failures >= MAX_FAILURES_PER_ACCOUNT or address_failures >= MAX_FAILURES_PER_ADDRESS:
        minutes = int(THROTTLE_WINDOW.total_seconds() // 60)
        logger.warning("Sign-in throttled for address %s (%s account failures, %s address "
                       "failures)", client_address, account_failures, address_failures)
        raise TooManyRequests(
            f"Too many failed sign-ins. Wait {minutes} minutes and try again, or ask your "
            "admin to reset your password.", retry_after=int(THROTTLE_WINDOW.total_seconds()))


async def authenticate(
    session: AsyncSession, *, workspace: str, email: str, password: str, client_address: str,
) -> User:
    """Return the active user whose credentials match, or raise InvalidInput with one
    message for every kind of mismatch. The caller records a failure with
    `do_record_failure` in a transaction of its own, since this one rolls back."""
    key = account_key(workspace, email)
    await check_throttle(session, key, client_address)

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
    await session.exec(delete(LoginAttempt).where(col(LoginAttempt.account_key) == key))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


async def _count(session: AsyncSession, condition: ColumnElement[bool], since: datetime) -> int:
    statement = select(func.count()).select_from(LoginAttempt).where(
        condition, col(LoginAttempt.attempted_at) >= since)
    return (await session.exec(statement)).one()


async def do_clear_failures(session: AsyncSession, *, workspace: str, email: str) -> None:
    """Forget an account's failed sign-ins (after a password reset)."""
    key = account_key(workspace, email)
    await session.exec(delete(LoginAttempt).where(col(LoginAttempt.account_key) == key))


async def do_record_failure(session: AsyncSession, *, workspace: str, email: str,
                            client_address: str) -> None:
    session.add(LoginAttempt(account_key=account_key(workspace, email),
                             client_address=client_address[:64]))
