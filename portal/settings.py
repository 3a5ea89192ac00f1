"""Portal settings: command-line flags, with environment variables as defaults."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from portal.auth.passwords import MIN_PASSWORD_LENGTH
from portal.errors import InvalidInput
from portal.mail.outbound_relay import RelayConfig, parse_relay_url

logger = logging.getLogger(__name__)

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = "secret_key"


@dataclass(frozen=True)
class Settings:
    """Everything the portal process reads from outside. Build it with `load_settings`."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = REPOSITORY_ROOT / "data"
    database_url: str = ""
    secret_key: str = ""
    apps_dir: Path | None = REPOSITORY_ROOT / "apps"
    bus_url: str = "memory://"
    # uvicorn worker processes; more than one needs PostgreSQL and a Redis bus.
    workers: int = 1
    # Origins, besides the request's own, that may open the desktop WebSocket, for a
    # portal behind a proxy that rewrites the Host header.
    allowed_origins: tuple[str, ...] = ()
    secure_cookies: bool = False
    session_hours: int = 12
    demo_password: str | None = None
    log_level: str = "INFO"
    ws_heartbeat_seconds: float = 20.0
    ws_send_queue: int = 256
    event_retention: int = 10_000
    # Days that sent mail and delivered sync items stay in their outboxes for the mail
    # log and the sync windows. The hourly prune job deletes older ones.
    outbox_retention_days: int = 30
    # The portal-wide SMTP relay for outgoing mail; None keeps mail queued until a relay
    # is configured here or in a workspace's mail settings.
    smtp_relay: RelayConfig | None = None
    # Where users reach the portal, for links in mail; empty means http://HOST:PORT.
    public_url: str = ""
    # The inbound SMTP listener; port 0 turns it off, and an empty host means `host`.
    smtp_port: int = 2525
    smtp_host: str = ""
    # The maximum delay between two pushes to the sync master while it fails.
    sync_retry_max_seconds: float = 300.0
    # The maximum number of outbox items in one push to the sync master.
    sync_batch_size: int = 200
    # Background job name (such as "ticketcloud.sla_scan") to the seconds between its
    # runs, replacing the interval the job declares.
    job_intervals: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'miportal.sqlite3'}"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"


_ENV_PREFIX = "MIPORTAL_"
Number = TypeVar("Number", int, float)


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="Start the MiPortal server. Every flag also reads MIPORTAL_<FLAG>.",
    )
    parser.add_argument("--host", default=env.get(_ENV_PREFIX + "HOST", "127.0.0.1"),
                        help="address to listen on (MIPORTAL_HOST; default 127.0.0.1)")
    # A string default goes through `type` too, so a bad MIPORTAL_PORT gets argparse's
    # usage error instead of a traceback.
    parser.add_argument("--port", type=int, default=env.get(_ENV_PREFIX + "PORT", "8000"),
                        help="TCP port for HTTP and WebSocket (MIPORTAL_PORT; default 8000)")
    parser.add_argument("--data-dir", type=Path,
                        default=Path(env.get(_ENV_PREFIX + "DATA_DIR", REPOSITORY_ROOT / "data")),
                        help="folder for the SQLite file, the secret key and uploads "
                             "(MIPORTAL_DATA_DIR; default ./data)")
    parser.add_argument("--database-url", default=env.get(_ENV_PREFIX + "DATABASE_URL", ""),
                        help="SQLAlchemy async URL (MIPORTAL_DATABASE_URL; default a SQLite "
                             "file in the data folder)")
    parser.add_argument("--bus-url", default=env.get(_ENV_PREFIX + "BUS_URL", "memory://"),
                        help="event bus that carries events between portal processes: "
                             "memory:// (one process) or redis://HOST:PORT/DB, with an "
                             "optional ?channel=NAME for portals that share one Redis "
                             "(MIPORTAL_BUS_URL; default memory://)")
    parser.add_argument("--workers", type=_positive(int),
                        default=env.get(_ENV_PREFIX + "WORKERS", "1"),
                        help="uvicorn worker processes on the one port; more than 1 needs a "
                             "postgresql+asyncpg:// database URL and a redis:// bus URL "
                             "(MIPORTAL_WORKERS; default 1)")
    parser.add_argument("--secret-key", default=env.get(_ENV_PREFIX + "SECRET_KEY", ""),
                        help="key that signs tokens and links (MIPORTAL_SECRET_KEY; default "
                             "generated once and kept in the data folder)")
    parser.add_argument("--apps-dir", type=Path,
                        default=Path(env.get(_ENV_PREFIX + "APPS_DIR", REPOSITORY_ROOT / "apps")),
                        help="folder of in-tree apps (MIPORTAL_APPS_DIR; default ./apps)")
    parser.add_argument("--allowed-origin", action="append",
                        default=_split(env.get(_ENV_PREFIX + "ALLOWED_ORIGINS", "")),
                        help="extra origin allowed to open the desktop WebSocket, such as "
                             "https://portal.example.com; repeatable (MIPORTAL_ALLOWED_ORIGINS, "
                             "comma-separated)")
    parser.add_argument("--secure-cookies", action="store_true",
                        default=env.get(_ENV_PREFIX + "SECURE_COOKIES", "") in ("1", "true"),
                        help="mark cookies Secure; set it when users reach the portal over "
                             "HTTPS (MIPORTAL_SECURE_COOKIES)")
    parser.add_argument("--log-level", default=env.get(_ENV_PREFIX + "LOG_LEVEL", "INFO"),
                        help="DEBUG, INFO, WARNING or ERROR (MIPORTAL_LOG_LEVEL; default INFO)")
    parser.add_argument("--ws-heartbeat-seconds", type=_positive(float),
                        default=env.get(_ENV_PREFIX + "WS_HEARTBEAT_SECONDS", "20"),
                        help="seconds between heartbeat messages on each desktop WebSocket "
                             "(MIPORTAL_WS_HEARTBEAT_SECONDS; default 20)")
    parser.add_argument("--ws-send-queue", type=_positive(int),
                        default=env.get(_ENV_PREFIX + "WS_SEND_QUEUE", "256"),
                        help="messages a desktop WebSocket may have waiting to be sent before "
                             "the portal closes it with code 1013 (MIPORTAL_WS_SEND_QUEUE; "
                             "default 256)")
    parser.add_argument("--event-retention", type=_positive(int),
                        default=env.get(_ENV_PREFIX + "EVENT_RETENTION", "10000"),
                        help="events kept per workspace for desktops that reconnect; older "
                             "ones are pruned hourly (MIPORTAL_EVENT_RETENTION; default 10000)")
    parser.add_argument("--outbox-retention-days", type=_positive(int),
                        default=env.get(_ENV_PREFIX + "OUTBOX_RETENTION_DAYS", "30"),
                        help="days that sent mail and delivered sync items are kept; older "
                             "ones are pruned hourly (MIPORTAL_OUTBOX_RETENTION_DAYS; "
                             "default 30)")
    parser.add_argument("--smtp-relay", default=env.get(_ENV_PREFIX + "SMTP_RELAY", ""),
                        help="SMTP relay for outgoing mail, as smtp://host:25, "
                             "smtp+starttls://user:password@host:587 or smtps://host:465 "
                             "(MIPORTAL_SMTP_RELAY; default none: mail waits in the outbox "
                             "until a relay is set here or in a workspace's mail settings). "
                             "Pass a password through the variable, since flags show in the "
                             "process list")
    parser.add_argument("--public-url", default=env.get(_ENV_PREFIX + "PUBLIC_URL", ""),
                        help="address users reach the portal at, such as "
                             "https://portal.example.com, for links in mail; its host name "
                             "is also the default mail domain (MIPORTAL_PUBLIC_URL; default "
                             "http://HOST:PORT)")
    parser.add_argument("--smtp-port", type=_port,
                        default=env.get(_ENV_PREFIX + "SMTP_PORT", "2525"),
                        help="TCP port of the inbound SMTP listener that receives mail for "
                             "apps; 0 turns it off (MIPORTAL_SMTP_PORT; default 2525)")
    parser.add_argument("--sync-retry-max", type=_positive(float),
                        default=env.get(_ENV_PREFIX + "SYNC_RETRY_MAX", "300"),
                        help="maximum delay in seconds between two pushes to the sync master "
                             "while it is down or refuses them; the delay doubles from 1 s "
                             "up to this (MIPORTAL_SYNC_RETRY_MAX; default 300)")
    parser.add_argument("--sync-batch-size", type=_positive(int),
                        default=env.get(_ENV_PREFIX + "SYNC_BATCH_SIZE", "200"),
                        help="most ticket changes one push to the sync master carries; a "
                             "batch also stays under 8 MiB (MIPORTAL_SYNC_BATCH_SIZE; "
                             "default 200, at most 1000)")
    parser.add_argument("--smtp-host", default=env.get(_ENV_PREFIX + "SMTP_HOST", ""),
                        help="address the inbound SMTP listener listens on (MIPORTAL_SMTP_HOST; "
                             "default the value of --host)")
    parser.add_argument("--job-interval", action="append",
                        default=_split(env.get(_ENV_PREFIX + "JOB_INTERVALS", "")),
                        help="seconds between the runs of one background job, as "
                             "NAME=SECONDS such as ticketcloud.sla_scan=5; repeatable "
                             "(MIPORTAL_JOB_INTERVALS, comma-separated; default each job's "
                             "own interval)")
    return parser


def _job_interval(value: str) -> tuple[str, float]:
    """Parse NAME=SECONDS for --job-interval, with SECONDS a finite number above 0."""
    name, _, seconds = value.partition("=")
    try:
        number = float(seconds)
    except ValueError:
        number = 0.0
    if not name.strip() or not 0 < number < float("inf"):
        raise InvalidInput(f"invalid job interval {value!r}: expected NAME=SECONDS such as "
                           "ticketcloud.sla_scan=5, with SECONDS above 0",
                           field="job_interval")
    return name.strip(), number


def _port(value: str) -> int:
    """Parse a TCP port number from 0 to 65535 for argparse."""
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(
            f"invalid port {value!r}: expected a number from 0 to 65535")
    return int(value)


def _positive(kind: Callable[[str], Number]) -> Callable[[str], Number]:
    """Return an argparse `type` that parses a number with `kind` and rejects zero and
    negative values."""

    def parse(value: str) -> Number:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid value {value!r}: expected a positive {kind.__name__}") from None
        if number <= 0:
            raise argparse.ArgumentTypeError(
                f"invalid value {value!r}: expected a number greater than 0")
        return number

    return parse


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def load_settings(argv: Sequence[str] | None = None) -> Settings:
    """Parse flags (falling back to environment variables) and make the data folder."""
    parser = build_parser()
    args = parser.parse_args(argv)
    demo_password = os.environ.get(_ENV_PREFIX + "DEMO_PASSWORD") or None
    if demo_password is not None and len(demo_password) < MIN_PASSWORD_LENGTH:
        parser.error(f"MIPORTAL_DEMO_PASSWORD is {len(demo_password)} characters long; use at "
                     f"least {MIN_PASSWORD_LENGTH}, or unset it for random passwords.")
    try:
        smtp_relay = parse_relay_url(args.smtp_relay)
    except InvalidInput as error:
        parser.error(f"--smtp-relay: {error.message}")
    try:
        job_intervals = dict(_job_interval(item) for item in args.job_interval)
    except InvalidInput as error:
        parser.error(f"--job-interval: {error.message}")
    public_url = args.public_url.strip().rstrip("/")
    if public_url and not public_url.startswith(("http://", "https://")):
        parser.error(f"--public-url {public_url!r}: use an http:// or https:// address.")
    if args.workers > 1:
        check_workers_supported(parser, database_url=args.database_url, bus_url=args.bus_url)
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings(
        host=args.host,
        port=args.port,
        data_dir=data_dir,
        database_url=args.database_url,
        bus_url=args.bus_url.strip(),
        workers=args.workers,
        secret_key=args.secret_key or load_or_create_secret_key(data_dir),
        apps_dir=args.apps_dir.resolve() if args.apps_dir else None,
        allowed_origins=tuple(args.allowed_origin),
        secure_cookies=args.secure_cookies,
        demo_password=demo_password,
        log_level=args.log_level.upper(),
        ws_heartbeat_seconds=args.ws_heartbeat_seconds,
        ws_send_queue=args.ws_send_queue,
        event_retention=args.event_retention,
        outbox_retention_days=args.outbox_retention_days,
        smtp_port=args.smtp_port,
        smtp_host=args.smtp_host.strip(),
        sync_retry_max_seconds=args.sync_retry_max,
        sync_batch_size=min(args.sync_batch_size, 1000),
        smtp_relay=smtp_relay,
        public_url=public_url,
        job_intervals=job_intervals,
    )


def check_workers_supported(parser: argparse.ArgumentParser, *, database_url: str,
                            bus_url: str) -> None:
    """Reject --workers above 1 unless every process shares PostgreSQL and Redis: SQLite
    takes one writer at a time, and the in-process bus reaches one process only."""
    if not database_url.startswith("postgresql"):
        parser.error("--workers above 1 needs a shared database: set --database-url to "
                     "postgresql+asyncpg://USER:PASSWORD@HOST/DB (SQLite serves one "
                     "process).")
    if not bus_url.startswith(("redis://", "rediss://", "unix://")):
        parser.error(f"--workers above 1 needs a shared event bus, but --bus-url is "
                     f"{bus_url!r}: set it to redis://HOST:PORT/DB.")


def load_or_create_secret_key(data_dir: Path) -> str:
    """Return the key kept in the data folder, creating it (mode 0600) on first use."""
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        key = path.read_text().strip()
        if len(key) < 32:
            raise SystemExit(
                f"The secret key in {path} is shorter than 32 characters; delete the file to "
                "generate a new one (signed-in users will have to sign in again)."
            )
        return key
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    logger.info("Generated a new secret key in %s", path)
    return key
