"""Installation identity and the two roles: a master registers children, a child is
configured with its master. Secrets are managed only from the CLI."""

from __future__ import annotations

import logging
import re
import uuid
from urllib.parse import urlsplit

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import utcnow
from portal.errors import Conflict, InvalidInput, NotFound
from portal.sync.models import SINGLETON_ID, SyncIdentity, SyncMaster, SyncNonce, SyncPeer
from portal.sync.signing import new_secret

logger = logging.getLogger(__name__)

MAX_PEER_NAME = 100
MIN_SECRET_LENGTH = 32
_INSTALLATION = re.compile(r"[0-9a-f]{32}")


async def installation_id(session: AsyncSession) -> str:
    """Return this installation's id, creating it on first use (needs a transaction)."""
    row = await session.get(SyncIdentity, SINGLETON_ID)
    if row is None:
        row = SyncIdentity(installation_id=uuid.uuid4().hex)
        session.add(row)
        await session.flush()
        logger.info("Created installation id %s", row.installation_id)
    return row.installation_id


def check_installation_id(value: str) -> str:
    cleaned = value.strip().lower().replace("-", "")
    if not _INSTALLATION.fullmatch(cleaned):
        raise InvalidInput(f"Invalid installation id {value!r}: use the 32 hex digits that "
                           "`python -m portal sync status` prints on the child.",
                           field="installation_id")
    return cleaned


async def do_register_child(session: AsyncSession, *, child_id: str, name: str,
                            tenant_id: int) -> tuple[SyncPeer, str]:
    """Register a child whose documents go to workspace `tenant_id`; return the peer and
    its new secret, which is shown once and cannot be read back."""
    child_id = check_installation_id(child_id)
    name = name.strip()
    if not name or len(name) > MAX_PEER_NAME:
        raise InvalidInput(f"Invalid child name {name!r}: use 1 to {MAX_PEER_NAME} "
                           "characters.", field="name")
    if child_id == await installation_id(session):
        raise InvalidInput(f"Installation {child_id} is this installation; register the "
                           "child's id instead.", field="installation_id")
    existing = (await session.exec(select(SyncPeer).where(
        SyncPeer.installation_id == child_id))).first()
    if existing is not None:
        raise Conflict(f"Installation {child_id} is already registered as {existing.name!r}; "
                       "remove it first to issue a new secret.", code="already_registered")
    secret = new_secret()
    peer = SyncPeer(installation_id=child_id, name=name, tenant_id=tenant_id, secret=secret)
    session.add(peer)
    await session.flush()
    logger.info("Registered child installation %s (%r) for tenant %s as peer %s", child_id,
                name, tenant_id, peer.id)
    return peer, secret


async def do_remove_child(session: AsyncSession, child_id: str) -> SyncPeer:
    """Remove a child; its requests are rejected as unknown from then on. The tickets it
    already pushed stay."""
    child_id = check_installation_id(child_id)
    peer = (await session.exec(select(SyncPeer).where(
        SyncPeer.installation_id == child_id))).first()
    if peer is None:
        raise NotFound(f"No child installation {child_id} is registered.",
                       field="installation_id")
    await session.exec(delete(SyncNonce).where(col(SyncNonce.peer_id) == peer.id))
    await session.delete(peer)
    await session.flush()
    logger.info("Removed child installation %s (%r)", child_id, peer.name)
    return peer


async def list_peers(session: AsyncSession, *, tenant_id: int | None = None) -> list[SyncPeer]:
    statement = select(SyncPeer).order_by(col(SyncPeer.name))
    if tenant_id is not None:
        statement = statement.where(SyncPeer.tenant_id == tenant_id)
    return list((await session.exec(statement)).all())


def check_master_url(url: str) -> str:
    cleaned = url.strip().rstrip("/")
    parts = urlsplit(cleaned)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"Invalid master URL {url!r}: use the master's http:// or "
                           "https:// address, such as https://hq.example.com.", field="url")
    if parts.query or parts.fragment or parts.username:
        raise InvalidInput(f"Invalid master URL {url!r}: leave out credentials, query and "
                           "fragment.", field="url")
    return cleaned


async def do_configure_master(session: AsyncSession, *, url: str, secret: str) -> SyncMaster:
    """Point this installation at its master; changes made from now on are pushed."""
    url = check_master_url(url)
    secret = secret.strip()
    if len(secret) < MIN_SECRET_LENGTH or len(secret) > 128:
        raise InvalidInput(f"Invalid secret of {len(secret)} characters: paste the secret "
                           "that `sync register-child` printed on the master.",
                           field="secret")
    await installation_id(session)
    master = await session.get(SyncMaster, SINGLETON_ID)
    if master is None:
        master = SyncMaster(url=url, secret=secret)
    else:
        master.url, master.secret = url, secret
        master.failures, master.last_error, master.next_attempt_at = 0, None, None
        master.master_installation_id = None
        master.updated_at = utcnow()
    session.add(master)
    await session.flush()
    logger.info("Configured the sync master %s", url)
    return master


async def do_remove_master(session: AsyncSession) -> None:
    """Stop pushing. Pending items stay in the outbox until a master is configured."""
    master = await session.get(SyncMaster, SINGLETON_ID)
    if master is None:
        raise NotFound("No sync master is configured.")
    await session.delete(master)
    await session.flush()
    logger.info("Removed the sync master %s", master.url)


async def load_master(session: AsyncSession) -> SyncMaster | None:
    return await session.get(SyncMaster, SINGLETON_ID)
