"""Run one portal process under uvicorn."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import uvicorn
from starlette.applications import Starlette

from portal.auth.passwords import prepare_dummy_hash
from portal.demo import seed_demo_if_empty
from portal.services import Services, build_services, migrate_all
from portal.settings import Settings, load_settings
from portal.web.app import create_app

logger = logging.getLogger(__name__)

# Client frames larger than this close the socket with code 1009; desktops only send pings.
WS_MAX_FRAME_BYTES = 64 * 1024


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiosmtpd logs every SMTP session at INFO on "mail.log", even "Connection lost during
    # _handle_client()" after a normal QUIT. The listener logs what matters itself, so
    # those lines show only at DEBUG.
    if logging.getLevelName(level) != logging.DEBUG:
        logging.getLogger("mail.log").setLevel(logging.WARNING)


async def print_demo_logins(services: Services) -> None:
    logins = await seed_demo_if_empty(services, password=services.settings.demo_password)
    if not logins:
        return
    base = f"http://{services.settings.host}:{services.settings.port}"
    lines = [f"Created the demo workspace 'demo'. Sign in at {base}/login with:"]
    lines += [f"  {login.role.value:<9} {login.email:<30} {login.password}" for login in logins]
    # Printed, not logged, because the operator needs these once and logs must hold no
    # secrets.
    print("\n".join(lines), flush=True)


FULL_COLLECTION_THRESHOLD = 1000

WORKER_HEALTHCHECK_SECONDS = 30

UVICORN_OPTIONS: dict[str, Any] = {
    "ws_max_size": WS_MAX_FRAME_BYTES, "ws_ping_interval": 20, "ws_ping_timeout": 20,
    # Events are a few hundred bytes of JSON, and permessage-deflate compresses each one
    # again for every socket and keeps a zlib context per socket. In bench/ws_fanout.py
    # (1,000 desktops, 2 CPUs) it cost about 44 MiB of RSS and doubled the median
    # delivery latency.
    "ws_per_message_deflate": False,
    "timeout_graceful_shutdown": 5, "proxy_headers": False, "server_header": False,
}


def tune_garbage_collection() -> None:
    """Exclude the objects made at start-up (modules, apps, schemas) from every later
    garbage collection, and make full collections rarer, so that they pause the event
    loop less often and for less time.

    With 1,000 desktops connected, a full collection took up to 150 ms on a 2-CPU
    machine (bench/ws_fanout.py), and about 45 ms of that went to start-up objects.
    """
    gc.collect()
    gc.freeze()
    logger.info("Froze %s start-up objects out of garbage collection", gc.get_freeze_count())
    # A full collection walks every desktop connection's objects and paused the loop for
    # 80 to 100 ms with 1,000 desktops; CPython's default (700, 10, 10) ran one within
    # seconds of a burst of connections. Waiting for 1,000 instead of 10 middle-generation
    # collections makes full ones up to 100 times rarer. Young objects are collected as
    # before, so only cyclic garbage that lives long waits longer. NOTE: each full
    # collection still pauses for as long; a long run of bench/ws_fanout.py shows it in max.
    gc.set_threshold(700, 10, FULL_COLLECTION_THRESHOLD)


def run(settings: Settings, *, seed_demo: bool = True) -> None:
    configure_logging(settings.log_level)
    if settings.workers > 1:
        run_workers(settings, seed_demo=seed_demo)
        return
    services = build_services(settings)

    async def after_start(services: Services) -> None:
        if seed_demo:
            await print_demo_logins(services)
        prepare_dummy_hash()
        tune_garbage_collection()

    app = create_app(services, after_start=after_start)
    logger.info("Starting MiPortal on http://%s:%s with data in %s", settings.host,
                settings.port, settings.data_dir)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
        **UVICORN_OPTIONS,
    )
    logger.info("MiPortal stopped")


def run_workers(settings: Settings, *, seed_demo: bool) -> None:
    """Prepare the database once, then serve with `settings.workers` uvicorn processes.

    This process migrates and seeds the demo, so the workers never race each other for
    either. uvicorn then starts the workers, each of which imports `worker_app` and reads
    the same flags again from the command line and the environment, and restarts a
    worker that dies.
    """
    asyncio.run(_prepare_database(settings, seed_demo=seed_demo))
    logger.info("Starting MiPortal with %s workers on http://%s:%s", settings.workers,
                settings.host, settings.port)
    uvicorn.run(
        "portal.server:worker_app", factory=True, workers=settings.workers,
        # A worker responds to uvicorn's health check only once it has imported and loaded
        # the apps, which took over 5 s, uvicorn's default, on a busy 2-CPU machine.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
        **UVICORN_OPTIONS,
    )
    logger.info("MiPortal stopped")


async def _prepare_database(settings: Settings, *, seed_demo: bool) -> None:
    services = build_services(settings)
    try:
        await migrate_all(services)
        if seed_demo:
            await print_demo_logins(services)
    finally:
        await services.db.dispose()


def worker_app() -> Starlette:
    """Build the app of one worker process started by `run_workers`."""
    settings = load_settings()
    configure_logging(settings.log_level)
    services = build_services(settings)

    async def after_start(services: Services) -> None:
        prepare_dummy_hash()
        tune_garbage_collection()

    return create_app(services, after_start=after_start)
