"""Backfill: stage the records that existed before a master was configured, through
each installed app's `sync_backfill` hook, in short transactions."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlmodel import col, select

from portal.db import Database
from portal.errors import NotFound
from portal.models import Tenant
from portal.registry import installations
from portal.registry.registry import AppRegistry
from portal.sync.peers import load_master
from portal.tenants import get_tenant_by_slug

logger = logging.getLogger(__name__)

# Records staged per transaction. Each one builds a document, so a batch keeps SQLite's
# write lock for tens of milliseconds, not for the whole backfill.
BACKFILL_BATCH = 50


@dataclass(frozen=True)
class BackfillResult:
    workspace: str
    app_id: str
    staged: int


async def push_existing(db: Database, registry: AppRegistry, *,
                        workspace: str | None = None,
                        batch_size: int = BACKFILL_BATCH) -> list[BackfillResult]:
    """Stage every record that was never pushed, for one workspace or all, and return
    the count per workspace and app. Running it again stages only what is new."""
    async with db.read() as session:
        if await load_master(session) is None:
            raise NotFound("No sync master is configured; run `python -m portal sync "
                           "configure-master` first.")
        if workspace is not None:
            tenants = [await get_tenant_by_slug(session, workspace)]
        else:
            tenants = list((await session.exec(select(Tenant).order_by(col(Tenant.id)))).all())
        installed = {tenant.slug: await installations.installed_app_ids(session, registry,
                                                                        tenant.id or 0)
                     for tenant in tenants}
    results: list[BackfillResult] = []
    for tenant in tenants:
        assert tenant.id is not None
        for app_id in sorted(installed[tenant.slug]):
            app = registry.apps[app_id]
            if app.backend.sync_backfill is None:
                continue
            staged = await _backfill_app(registry, app_id, tenant.id, batch_size)
            results.append(BackfillResult(tenant.slug, app_id, staged))
    return results


async def _backfill_app(registry: AppRegistry, app_id: str, tenant_id: int,
                        batch_size: int) -> int:
    app = registry.apps[app_id]
    hook = app.backend.sync_backfill
    assert hook is not None
    started = time.monotonic()
    staged, after = 0, 0
    while True:
        async with app.context.transaction() as session:
            batch = await hook(app.context, session, tenant_id, after, batch_size)
        staged += batch.staged
        if batch.next_after is None:
            break
        after = batch.next_after
    logger.info("Backfill of app %s for tenant %s staged %s items in %.2f s", app_id,
                tenant_id, staged, time.monotonic() - started)
    return staged
