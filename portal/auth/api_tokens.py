"""API tokens a user lists, creates and revokes, and the record of their last use."""

from __future__ import annotations

import logging
import unicodedata
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.auth.sessions import do_add_api_token
from portal.db import Database, utcnow
from portal.errors import Conflict, InvalidInput, NotFound
from portal.models import ApiToken, User

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 100
MAX_ACTIVE_TOKENS = 20
# A token's last use is written only when the stored one is older than this (checked by
# `token_use_due` and again by the UPDATE), so a busy script's requests stay read-only.
LAST_USE_INTERVAL = timedelta(minutes=5)


def check_token_name(value: Any) -> str:
    """Return the trimmed token name, or raise InvalidInput naming the field `name`."""
    if value is None:
        raise InvalidInput(
            "The field name is missing; give the token a name such as 'backup script'.",
            field="name",
        )
    if not isinstance(value, str):
        raise InvalidInput(
            f"The field name must be a string, not {type(value).__name__}.", field="name"
        )
    name = value.strip()
    if not name:
        raise InvalidInput(
            "The field name is empty; give the token a name such as 'backup script'.", field="name"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"The field name is {len(name)} characters long; the maximum is {MAX_NAME_LENGTH}.",
            field="name",
        )
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise InvalidInput(
            f"The field name {name!r} contains a control character; use printable characters only.",
            field="name",
        )
    return name


def token_view(row: ApiToken) -> dict[str, Any]:
    """Return what a user may see of a token: never the secret or its digest."""
    return {
        "id": row.id,
        "name": row.name,
        "created_at": _iso(row.created_at),
        "last_used_at": _iso(row.last_used_at),
        "revoked_at": _iso(row.revoked_at),
    }


async def list_user_tokens(
    session: AsyncSession, *, tenant_id: int, user_id: int
) -> list[ApiToken]:
    statement = (
        select(ApiToken)
        .where(ApiToken.tenant_id == tenant_id, ApiToken.user_id == user_id)
        .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
    )
    return list((await session.exec(statement)).all())


async def list_tenant_tokens(
    session: AsyncSession, *, tenant_id: int
) -> list[tuple[ApiToken, User]]:
    statement = (
        select(ApiToken, User)
        .join(User, col(User.id) == col(ApiToken.user_id))
        .where(ApiToken.tenant_id == tenant_id)
        .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id).desc())
    )
    return [(token, user) for token, user in (await session.exec(statement)).all()]


async def access_token(
    session: AsyncSession, token_id: int, *, tenant_id: int, user_id: int | None = None
) -> ApiToken:
    """Load a token of the tenant (and of `user_id` when given), or raise NotFound.

    Another tenant's or another user's token gets the same error as an unknown id, so
    that an id never reveals whether it exists elsewhere."""
    row = await session.get(ApiToken, token_id)
    if (
        row is None
        or row.tenant_id != tenant_id
        or (user_id is not None and row.user_id != user_id)
    ):
        raise NotFound(
            f"No API token with id {token_id} is yours to manage; list your tokens to find the id."
        )
    return row


async def do_create_api_token(
    session: AsyncSession, *, tenant_id: int, user_id: int, name: str
) -> tuple[ApiToken, str]:
    """Store a new token for the user and return its row and its secret, which is shown
    once and never stored. Raise Conflict when the user has too many active tokens."""
    # Locking the user's row keeps two concurrent requests from both passing the cap on
    # PostgreSQL. SQLite ignores the lock because its single writer serializes them.
    user = (
        await session.exec(
            select(User).where(User.id == user_id, User.tenant_id == tenant_id).with_for_update()
        )
    ).one()
    active = (
        await session.exec(
            select(func.count())
            .select_from(ApiToken)
            .where(ApiToken.user_id == user_id, col(ApiToken.revoked_at).is_(None))
        )
    ).one()
    if active >= MAX_ACTIVE_TOKENS:
        raise Conflict(
            f"You have {active} active API tokens, the maximum is "
            f"{MAX_ACTIVE_TOKENS}; revoke one you no longer use first.",
            code="too_many_tokens",
        )
    return await do_add_api_token(session, user, name=name)


async def do_revoke_api_token(
    session: AsyncSession, row: ApiToken, *, revoked_by: int | None
) -> None:
    """Mark the token revoked; revoking an already revoked token changes nothing."""
    if row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    session.add(row)
    by = f"user {revoked_by}" if revoked_by is not None else "the CLI"
    logger.info(
        "Revoked API token %s of user %s of tenant %s by %s", row.id, row.user_id, row.tenant_id, by
    )


def token_use_due(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or last_used_at <= now - LAST_USE_INTERVAL


async def record_token_use(db: Database, token_id: int) -> None:
    """Set the token's last use to now in its own short transaction.

    The WHERE clause repeats the interval check, so that of several requests that found
    the stored value old only the first writes. A failure is logged and not raised,
    because losing one record of use must not fail the request the token authenticated."""
    now = utcnow()
    statement = (
        update(ApiToken)
        .where(
            col(ApiToken.id) == token_id,
            or_(
                col(ApiToken.last_used_at).is_(None),
                col(ApiToken.last_used_at) <= now - LAST_USE_INTERVAL,
            ),
        )
        .values(last_used_at=now)
    )
    try:
        async with db.transaction() as session:
            await session.exec(statement)
    except SQLAlchemyError:
        logger.warning("Failed to record the last use of API token %s", token_id, exc_info=True)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
