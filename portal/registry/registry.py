"""The registry of the apps this portal process found, loaded or broken."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import logging
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from starlette.routing import BaseRoute

from portal.db import Database
from portal.errors import NotFound
from portal.events.bus import EventBus
from portal.mail.compose import derive_key
from portal.mail.outbox import MailGateway
from portal.rate_limits import RateLimiter
from portal.registry.discovery import MANIFEST_NAME, AppSource
from portal.registry.manifest import Manifest, ManifestError, load_manifest
from portal.sdk import AppBackend, AppContext, Job
from portal.sync.outbox import SyncGateway

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedApp:
    manifest: Manifest
    source: AppSource
    backend: AppBackend
    context: AppContext

    @property
    def root(self) -> Path:
        assert self.source.root is not None
        return self.source.root

    @property
    def static_dir(self) -> Path | None:
        return self.root / self.manifest.static if self.manifest.static else None

    @property
    def migrations_dir(self) -> Path | None:
        return self.root / self.manifest.migrations if self.manifest.migrations else None

    @property
    def builtin(self) -> bool:
        return self.source.builtin


@dataclass(frozen=True)
class BrokenApp:
    """An app that could not be loaded; the portal runs without it and lists the error."""

    origin: str
    app_id: str | None
    error: str


class AppRegistry:
    def __init__(self, *, db: Database, bus: EventBus, data_dir: Path,
                 secret_key: str = "", mail: MailGateway | None = None,
                 sync: SyncGateway | None = None,
                 rate_limiter: RateLimiter | None = None) -> None:
        self._db = db
        self._bus = bus
        self._data_dir = data_dir
        self._secret_key = secret_key
        self.mail = mail or MailGateway(secret_key=secret_key)
        self.sync = sync or SyncGateway()
        self.rate_limiter = rate_limiter or RateLimiter(db, derive_key(secret_key, "rate-limit"))
        self.apps: dict[str, LoadedApp] = {}
        self.broken: list[BrokenApp] = []

    def load(self, sources: Iterable[AppSource]) -> None:
        for source in sources:
            try:
                app = self._load_one(source)
            except _LoadError as error:
                self.broken.append(BrokenApp(source.origin, error.app_id, str(error)))
                logger.error("App from %s is broken: %s", source.origin, error)
                continue
            self.apps[app.manifest.id] = app
            logger.info("Loaded app %s %s from %s", app.manifest.id, app.manifest.version,
                        source.origin)

    @property
    def bus(self) -> EventBus:
        return self._bus

    def get(self, app_id: str) -> LoadedApp:
        app = self.apps.get(app_id)
        if app is None:
            raise NotFound(f"App {app_id!r} not found; `python -m portal apps list` shows "
                           "the apps this portal has.")
        return app

    def builtin_ids(self) -> set[str]:
        return {app_id for app_id, app in self.apps.items() if app.builtin}

    def migration_dirs(self) -> list[Path]:
        return [app.migrations_dir for app in self.apps.values() if app.migrations_dir]

    def _load_one(self, source: AppSource) -> LoadedApp:
        if source.root is None:
            raise _LoadError(None, source.error or "package not found")
        try:
            manifest = load_manifest(source.root / MANIFEST_NAME)
        except ManifestError as error:
            raise _LoadError(None, f"invalid manifest: {error}") from error
        if manifest.id in self.apps:
            other = self.apps[manifest.id].source.origin
            raise _LoadError(manifest.id, f"duplicate app id {manifest.id!r}: already "
                                          f"provided by {other}")
        backend = _import_backend(manifest)
        for folder, name in ((manifest.static, "static"), (manifest.migrations, "migrations")):
            if folder and not (source.root / folder).is_dir():
                raise _LoadError(manifest.id, f"manifest field {name!r}: folder {folder!r} "
                                              f"does not exist in {source.root}")
        if manifest.migrations:
            _check_migrations(manifest, source.root / manifest.migrations)
        signing_key = hmac.new(self._secret_key.encode(), f"miportal-app:{manifest.id}".encode(),
                               hashlib.sha256).digest()
        context = AppContext(manifest=manifest, root=source.root, db=self._db, bus=self._bus,
                             data_dir=self._data_dir, signing_key=signing_key,
                             mail=self.mail, sync=self.sync,
                             rate_limiter=self.rate_limiter)
        return LoadedApp(manifest=manifest, source=source, backend=backend, context=context)


class _LoadError(Exception):
    def __init__(self, app_id: str | None, message: str) -> None:
        super().__init__(message)
        self.app_id = app_id


def _import_backend(manifest: Manifest) -> AppBackend:
    module_name, _, attribute = manifest.backend.partition(":")
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as error:
        # SystemExit too: a module that parses flags or calls sys.exit() at import time
        # must not stop the portal.
        last = traceback.format_exception_only(error)[-1].strip()
        raise _LoadError(manifest.id, f"importing backend module {module_name!r} failed: "
                                      f"{last}") from error
    backend = getattr(module, attribute, None)
    if not isinstance(backend, AppBackend):
        raise _LoadError(manifest.id, f"manifest field 'backend': {manifest.backend!r} is "
                                      f"{type(backend).__name__}, not a portal.sdk.AppBackend")
    problem = _backend_problem(backend)
    if problem is not None:
        raise _LoadError(manifest.id, f"manifest field 'backend': {manifest.backend!r} has "
                                      f"{problem}")
    return backend


def _backend_problem(backend: AppBackend) -> str | None:
    """Describe the first field of `backend` with a value of the wrong type, if any.

    The dataclass checks nothing itself, and a bad job would otherwise fail while the
    portal starts its job runner, after the app was loaded.
    """
    for index, route in enumerate(backend.routes):
        if not isinstance(route, BaseRoute):
            return f"routes[{index}] of type {type(route).__name__}; use a Starlette Route"
    for index, job in enumerate(backend.jobs):
        if not isinstance(job, Job):
            return f"jobs[{index}] of type {type(job).__name__}; use a portal.sdk.Job"
        if not callable(job.run):
            return f"jobs[{index}] ({job.name!r}) whose run is not callable; use an async function"
        if not isinstance(job.interval_seconds, int | float) or job.interval_seconds <= 0:
            return (f"jobs[{index}] ({job.name!r}) with interval_seconds "
                    f"{job.interval_seconds!r}; use a number of seconds above 0")
    for hook in ("on_install", "on_purge", "seed_demo", "sync_applier"):
        value = getattr(backend, hook)
        if value is not None and not callable(value):
            return f"{hook} of type {type(value).__name__}; use an async function or None"
    return None


def _check_migrations(manifest: Manifest, folder: Path) -> None:
    """Reject a migrations folder Alembic cannot read or whose branch is not the app id,
    before it joins the configuration that every branch shares."""
    from alembic.script import ScriptDirectory

    from portal.migrate import PORTAL_BRANCH, build_config

    try:
        script = ScriptDirectory.from_config(build_config([folder]))
        labels: set[str] = set()
        for revision in script.walk_revisions():
            labels.update(revision.branch_labels)
    except Exception as error:
        raise _LoadError(manifest.id, f"manifest field 'migrations': Alembic cannot read "
                                      f"{folder}: {error}") from error
    if manifest.id not in labels:
        raise _LoadError(manifest.id, f"manifest field 'migrations': no revision in {folder} "
                                      f"has the branch label {manifest.id!r}")
    stray = labels - {manifest.id, PORTAL_BRANCH}
    if stray:
        raise _LoadError(manifest.id, f"manifest field 'migrations': revisions in {folder} "
                                      f"carry foreign branch labels {sorted(stray)}")
