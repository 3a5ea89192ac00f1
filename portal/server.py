"""Run one portal process under uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from portal.demo import seed_demo_if_empty
from portal.services import Services, build_services
from portal.settings import Settings
from portal.web.app import create_app

logger = logging.getLogger(__name__)

# Client frames larger than this close the socket with code 1009; desktops only send pings.
WS_MAX_FRAME_BYTES = 64 * 1024


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


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


def run(settings: Settings, *, seed_demo: bool = True) -> None:
    configure_logging(settings.log_level)
    services = build_services(settings)
    app = create_app(services, after_start=print_demo_logins if seed_demo else None)
    logger.info("Starting MiPortal on http://%s:%s with data in %s", settings.host,
                settings.port, settings.data_dir)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
        ws_max_size=WS_MAX_FRAME_BYTES, ws_ping_interval=20, ws_ping_timeout=20,
        timeout_graceful_shutdown=5, proxy_headers=False, server_header=False,
    )
    logger.info("MiPortal stopped")
