"""The portal's long-lived services and their start-up and shutdown order."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlmodel import col, select

from portal.db import Database, utcnow
from portal.events.bus import EventBus, create_bus
from portal.events.hub import Hub
from portal.events.log import do_prune_events
from portal.jobs import JobRunner, ScheduledJob
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.models import AppInstallation, InstallationStatus, UserSession
from portal.registry.discovery import builtin_sources, entry_point_sources, folder_sources
from portal.registry.registry import AppRegistry
from portal.sdk import AppContext
from portal.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    bus: EventBus
    hub: Hub
    registry: AppRegistry
    jobs: JobRunner = field(default_factory=JobRunner)
    ready: bool = False


def build_services(settings: Settings) -> Services:
    """Create the services and load the apps; nothing touches the database yet."""
    db = Database(settings.effective_database_url)
    bus = create_bus(settings.bus_url)
    hub = Hub(db, bus, queue_size=settings.ws_send_queue,
              heartbeat_seconds=settings.ws_heartbeat_seconds)
    registry = AppRegistry(db=db, bus=bus, data_dir=settings.data_dir,
                           secret_key=settings.secret_key)
    registry.load([*builtin_sources(), *folder_sources(settings.apps_dir),
                   *entry_point_sources()])
    return Services(settings=settings, db=db, bus=bus, hub=hub, registry=registry)


async def migrate_all(services: Services) -> None:
    """Upgrade the portal branch, then the branch of every app some tenant installed."""
    config = build_config(services.registry.migration_dirs())
    await upgrade(services.db, [PORTAL_BRANCH], config)
    async with services.db.read() as session:
        installed = set((await session.exec(
            select(AppInstallation.app_id).where(
                AppInstallation.status == InstallationStatus.INSTALLED))).all())
    branches = [app_id for app_id, app in services.registry.apps.items()
                if app.migrations_dir is not None and app_id in installed]
    await upgrade(services.db, branches, config)


async def start_services(services: Services) -> None:
    await migrate_all(services)
    await services.bus.start()
    await services.hub.start()
    _schedule_jobs(services)
    services.jobs.start()
    services.ready = True
    logger.info("Portal services started with %s apps (%s broken)",
                len(services.registry.apps), len(services.registry.broken))


async def stop_services(services: Services) -> None:
    services.ready = False
    await services.jobs.stop()
    await services.hub.stop()
    await services.bus.stop()
    await services.db.dispose()
    logger.info("Portal services stopped")


def _schedule_jobs(services: Services) -> None:
    async def prune() -> None:
        async with services.db.transaction() as session:
            await do_prune_events(session, keep=services.settings.event_retention)
            await session.exec(delete(UserSession).where(
                col(UserSession.expires_at) < utcnow()))

    services.jobs.add(ScheduledJob("portal.prune", 3600, prune))
    for app in services.registry.apps.values():
        for job in app.backend.jobs:
            services.jobs.add(ScheduledJob(f"{app.manifest.id}.{job.name}", job.interval_seconds,
                                           _bind(job.run, app.context)))


def _bind(run: Callable[[AppContext], Awaitable[None]],
          context: AppContext) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        await run(context)

    return call
