"""The portal's long-lived services and their start-up and shutdown order."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import col, select

from portal.auth.links import do_prune_links
from portal.db import Database, utcnow
from portal.events.bus import EventBus, create_bus
from portal.events.hub import Hub
from portal.events.log import do_prune_events
from portal.jobs import JobRunner, ScheduledJob
from portal.mail.compose import derive_key
from portal.mail.delivery import DeliveryWorker
from portal.mail.imap_poll import ImapPoller
from portal.mail.inbound import InboundGateway
from portal.mail.listener import SmtpListener
from portal.mail.outbox import MailGateway, do_prune_sent
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.models import AppInstallation, InstallationStatus, UserSession
from portal.rate_limits import RateLimiter, do_prune_rate_limits
from portal.registry.discovery import builtin_sources, entry_point_sources, folder_sources
from portal.registry.registry import AppRegistry
from portal.sdk import AppContext
from portal.settings import Settings
from portal.sync.outbox import SyncGateway, do_prune_delivered
from portal.sync.pusher import SyncPusher
from portal.sync.receiver import SyncReceiver

logger = logging.getLogger(__name__)

# How often messages still waiting in status received are processed: those that the MTA
# pipe stored from another process, and those a crash interrupted.
INBOUND_MAIL_INTERVAL_SECONDS = 5.0
# How often the IMAP poller looks for mailboxes whose own interval or backoff is over.
IMAP_CHECK_INTERVAL_SECONDS = 5.0


@dataclass
class Services:
    settings: Settings
    db: Database
    bus: EventBus
    hub: Hub
    registry: AppRegistry
    mail: MailGateway
    delivery: DeliveryWorker
    inbound: InboundGateway
    imap: ImapPoller
    rate_limiter: RateLimiter
    jobs: JobRunner = field(default_factory=JobRunner)
    ready: bool = False
    # None when --smtp-port is 0.
    smtp: SmtpListener | None = None
    # Installation sync: the child's push loop and the master's receiving side.
    pusher: SyncPusher | None = None
    sync_receiver: SyncReceiver | None = None


def build_services(settings: Settings) -> Services:
    """Create the services and load the apps; nothing touches the database yet."""
    db = Database(settings.effective_database_url)
    bus = create_bus(settings.bus_url)
    hub = Hub(db, bus, queue_size=settings.ws_send_queue,
              heartbeat_seconds=settings.ws_heartbeat_seconds)
    mail = MailGateway(secret_key=settings.secret_key, public_url=settings.effective_public_url,
                       default_relay=settings.smtp_relay)
    sync = SyncGateway()
    rate_limiter = RateLimiter(db, derive_key(settings.secret_key, "rate-limit"))
    registry = AppRegistry(db=db, bus=bus, data_dir=settings.data_dir,
                           secret_key=settings.secret_key, mail=mail, sync=sync,
                           rate_limiter=rate_limiter)
    registry.load([*builtin_sources(), *folder_sources(settings.apps_dir),
                   *entry_point_sources()])
    inbound = InboundGateway(db, registry, settings.data_dir)
    smtp = (SmtpListener(inbound, host=settings.smtp_host or settings.host,
                         port=settings.smtp_port) if settings.smtp_port else None)
    return Services(settings=settings, db=db, bus=bus, hub=hub, registry=registry, mail=mail,
                    delivery=DeliveryWorker(db, mail), inbound=inbound,
                    imap=ImapPoller(db, inbound), rate_limiter=rate_limiter,
                    jobs=JobRunner(db), smtp=smtp,
                    pusher=SyncPusher(db, sync,
                                      retry_max_seconds=settings.sync_retry_max_seconds,
                                      batch_size=settings.sync_batch_size),
                    sync_receiver=SyncReceiver(db, registry))


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
    services.delivery.start()
    if services.pusher is not None:
        services.pusher.start()
    if services.smtp is not None:
        await services.smtp.start()
    services.ready = True
    logger.info("Portal services started with %s apps (%s broken)",
                len(services.registry.apps), len(services.registry.broken))


async def stop_services(services: Services) -> None:
    services.ready = False
    if services.smtp is not None:
        await services.smtp.stop()
    await services.inbound.stop()
    await services.delivery.stop()
    if services.pusher is not None:
        await services.pusher.stop()
    await services.jobs.stop()
    await services.hub.stop()
    await services.bus.stop()
    await services.db.dispose()
    logger.info("Portal services stopped")


async def prune_once(services: Services) -> None:
    """Delete what the portal keeps only for a while: old events, expired sessions and
    sign-in links, rate limit windows that no longer count, and sent mail and delivered
    sync items past the outbox retention. The deletes may take long, so they run as a
    bulk transaction, which does not hold up the event loop."""
    async with services.db.transaction(bulk=True) as session:
        await do_prune_events(session, keep=services.settings.event_retention)
        await session.exec(delete(UserSession).where(col(UserSession.expires_at) < utcnow()))
        await do_prune_links(session)
        await do_prune_rate_limits(session)
        cutoff = utcnow() - timedelta(days=services.settings.outbox_retention_days)
        mail = await do_prune_sent(session, older_than=cutoff)
        sync = await do_prune_delivered(session, older_than=cutoff)
    if mail or sync:
        logger.info("Pruned %s sent mails and %s delivered sync items older than %s days",
                    mail, sync, services.settings.outbox_retention_days)


def _schedule_jobs(services: Services) -> None:
    async def prune() -> None:
        await prune_once(services)

    async def process_inbound() -> None:
        await services.inbound.process_pending()

    services.jobs.add(ScheduledJob("portal.prune", 3600, prune))
    async def poll_imap() -> None:
        await services.imap.poll_due()

    services.jobs.add(ScheduledJob("portal.mail.inbound", INBOUND_MAIL_INTERVAL_SECONDS,
                                   process_inbound))
    services.jobs.add(ScheduledJob("portal.mail.imap", IMAP_CHECK_INTERVAL_SECONDS, poll_imap))
    intervals = services.settings.job_intervals
    app_jobs = [f"{app.manifest.id}.{job.name}" for app in services.registry.apps.values()
                for job in app.backend.jobs]
    for app in services.registry.apps.values():
        for job in app.backend.jobs:
            name = f"{app.manifest.id}.{job.name}"
            services.jobs.add(ScheduledJob(name, intervals.get(name, job.interval_seconds),
                                           _bind(job.run, app.context)))
    unknown = sorted(set(intervals) - set(app_jobs))
    if unknown:
        logger.warning("--job-interval names unknown jobs %s; the apps' jobs are %s",
                       unknown, app_jobs)


def _bind(run: Callable[[AppContext], Awaitable[None]],
          context: AppContext) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        await run(context)

    return call
