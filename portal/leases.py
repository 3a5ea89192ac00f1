"""Database leases: named work that one portal process at a time may do.

A lease is a row of `portal_job_lease` with an owner and an expiry. `claim` takes a free
or expired lease, or renews one the owner already holds, in one short transaction; the
lease lasts until it expires, not until that transaction ends. A process that crashes
simply stops renewing, so its lease expires and another process takes the work over.

Claims are atomic on both databases. On PostgreSQL the UPDATE takes the row lock, and a
concurrent claim that waited for it re-checks the owner and expiry after the first one
commits, so exactly one succeeds. SQLite runs one write transaction at a time. A missing
row is created with INSERT ... ON CONFLICT DO NOTHING, which both support.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import uuid
from datetime import timedelta

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from portal.db import Database, utcnow
from portal.errors import InvalidInput
from portal.models import JobLease

logger = logging.getLogger(__name__)

MAX_NAME_LENGTH = 200


@functools.cache
def process_owner() -> str:
    """Return the lease owner name of this process: host, process id and a random part,
    since process ids repeat across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def claim(db: Database, name: str, owner: str, ttl: timedelta) -> bool:
    """Take or renew the lease `name` for `owner` until now + `ttl`; return whether
    `owner` holds it now. Another owner's lease that has not expired is left alone."""
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"Invalid lease name {name!r}: use 1 to {MAX_NAME_LENGTH} "
                           "characters.", field="name")
    if ttl <= timedelta(0):
        raise InvalidInput(f"Invalid lease time {ttl!r}: use a positive duration.",
                           field="ttl")
    now = utcnow()
    expires = now + ttl
    async with db.transaction() as session:
        renewed = await session.exec(
            update(JobLease)
            .where(col(JobLease.name) == name,
                   (col(JobLease.owner) == owner) | (col(JobLease.expires_at) <= now))
            .values(owner=owner, expires_at=expires,
                    acquired_at=case((col(JobLease.owner) == owner,
                                      col(JobLease.acquired_at)), else_=now))
            .returning(col(JobLease.name)))
        if renewed.first() is not None:
            return True
        dialect = postgresql if db.dialect == "postgresql" else sqlite
        created = await session.exec(
            dialect.insert(JobLease)
            .values(name=name, owner=owner, acquired_at=now, expires_at=expires)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(col(JobLease.name)))
        taken = created.first() is not None
    if taken:
        logger.info("Lease %s taken by %s for %.0f s", name, owner, ttl.total_seconds())
    return taken


async def release(db: Database, name: str, owner: str) -> bool:
    """Give up the lease `name` if `owner` holds it, so another process may take it at
    once; return whether it did."""
    async with db.transaction() as session:
        result = await session.exec(delete(JobLease).where(
            col(JobLease.name) == name, col(JobLease.owner) == owner))
        released = bool(result.rowcount)
    if released:
        logger.info("Lease %s released by %s", name, owner)
    return released
