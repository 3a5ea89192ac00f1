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
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'miportal.sqlite3'}"


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
    return parser


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
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings(
        host=args.host,
        port=args.port,
        data_dir=data_dir,
        database_url=args.database_url,
        secret_key=args.secret_key or load_or_create_secret_key(data_dir),
        apps_dir=args.apps_dir.resolve() if args.apps_dir else None,
        allowed_origins=tuple(args.allowed_origin),
        secure_cookies=args.secure_cookies,
        demo_password=demo_password,
        log_level=args.log_level.upper(),
        ws_heartbeat_seconds=args.ws_heartbeat_seconds,
        ws_send_queue=args.ws_send_queue,
        event_retention=args.event_retention,
    )


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
