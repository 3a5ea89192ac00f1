"""The public app API: everything an app may import from the portal.

An app is a Python package with a `manifest.json` whose `backend` names an
`AppBackend` in this module's terms. The portal calls the hooks below; an app never
reaches into other portal modules, so this file is the whole contract:

- `AppBackend.routes`: Starlette routes mounted under `/apps/<id>/`; each request has
  the signed-in user (`principal(request)`) or, under `/apps/<id>/public/<workspace>/`,
  only the workspace (`tenant_id(request)`).
- `AppBackend.on_install(context, session, tenant_id)`: runs in the install transaction
  after the app's migrations, once per installation for a tenant.
- `AppBackend.on_purge(context, session, tenant_id)`: runs in the purge transaction
  before the rows of the manifest's `data.tables` for the tenant are deleted.
- `AppBackend.seed_demo(context, session, tenant_id)`: fills a new demo workspace with
  sample data when `run.py` starts on an empty database.
- `AppBackend.jobs`: background jobs, each run every `interval_seconds` in the portal
  process with an `AppContext`.
- `AppContext.publish(session, ...)`: stages an event declared in the manifest; it
  reaches desktops after the transaction commits.
- `find_users(session, tenant_id, ...)`: looks up the workspace's users as `UserRecord`s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute

from portal.auth.sessions import Principal
from portal.db import Database, UTCDateTime, after_commit, utcnow
from portal.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound, PortalError
from portal.events.bus import EventBus
from portal.events.log import stage_event
from portal.events.model import Audience, Event, Notification
from portal.models import Role, User
from portal.registry.manifest import Manifest
from portal.tenants import access_row

__all__ = [
    "SDK_SCRIPT", "AppBackend", "AppContext", "Audience", "Conflict", "Event", "Forbidden",
    "InvalidInput", "Job", "NotAuthenticated", "NotFound", "Notification", "PortalError",
    "Principal", "Role", "UTCDateTime", "UserRecord", "access_row", "after_commit",
    "app_context", "csrf_token", "find_users", "principal", "require_role", "tenant_id",
    "utcnow",
]

# The shell's SDK module for app windows: `<script type="module">import { portal } from
# "/static/shell/sdk.js"</script>`.
SDK_SCRIPT = "/static/shell/sdk.js"

SCOPE_PRINCIPAL = "miportal.principal"
SCOPE_TENANT = "miportal.tenant_id"
SCOPE_APP = "miportal.app_context"
SCOPE_CSRF = "miportal.csrf_token"

Hook = Callable[["AppContext", AsyncSession, int], Awaitable[None]]


@dataclass(frozen=True)
class Job:
    """A background job: `run(context)` every `interval_seconds` while the portal runs."""

    name: str
    interval_seconds: float
    run: Callable[[AppContext], Awaitable[None]]


@dataclass(frozen=True)
class AppBackend:
    """The object an app's `backend` attribute names. Every field is optional."""

    routes: Sequence[BaseRoute] = ()
    on_install: Hook | None = None
    on_purge: Hook | None = None
    seed_demo: Hook | None = None
    jobs: Sequence[Job] = ()


@dataclass
class AppContext:
    """The portal's services as exposed to one app."""

    manifest: Manifest
    root: Path
    db: Database
    bus: EventBus
    data_dir: Path
    # Derived from the portal's secret key for this app alone, for signing links and
    # tokens with HMAC. The portal's own key is never exposed to an app.
    signing_key: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def app_id(self) -> str:
        return self.manifest.id

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Yield a session in one transaction that commits on success, then publishes."""
        async with self.db.transaction() as session:
            yield session

    async def publish(
        self, session: AsyncSession, *, tenant_id: int, topic: str, payload: dict[str, Any],
        audience: Audience, notification: Notification | None = None,
    ) -> Event:
        """Stage an event in `session`'s transaction; desktops get it after the commit.

        Raises InvalidInput when the topic is not declared in the manifest's `events`.
        """
        if topic not in self.manifest.event_topics:
            declared = ", ".join(sorted(self.manifest.event_topics)) or "none"
            raise InvalidInput(f"App {self.app_id!r} publishes undeclared topic {topic!r}; "
                               f"declare it in manifest.json 'events' (declared: {declared}).",
                               field="topic")
        return await stage_event(session, self.bus, tenant_id=tenant_id, topic=topic,
                                 payload=payload, audience=audience, notification=notification)

    def has_permission(self, who: Principal, permission: str) -> bool:
        """Return whether `who`'s role has a permission declared in the manifest."""
        roles = self.manifest.permissions.get(permission)
        if roles is None:
            raise InvalidInput(f"Unknown permission {permission!r} for app {self.app_id!r}.")
        return who.role.value in roles

    def app_data_dir(self, tenant_id: int) -> Path:
        """Return (and create) the folder where this app keeps files for a tenant."""
        path = self.data_dir / "apps" / self.app_id / str(tenant_id)
        path.mkdir(parents=True, exist_ok=True)
        return path


def principal(connection: HTTPConnection) -> Principal:
    """Return the signed-in user of a request, or raise NotAuthenticated."""
    who = connection.scope.get(SCOPE_PRINCIPAL)
    if who is None:
        raise NotAuthenticated("Sign in to use this app.")
    assert isinstance(who, Principal)
    return who


def require_role(connection: HTTPConnection, *roles: Role | str) -> Principal:
    """Return the signed-in user when their role is one of `roles`, else raise Forbidden."""
    who = principal(connection)
    allowed: Iterable[str] = (Role(role).value for role in roles)
    if who.role.value not in set(allowed):
        raise Forbidden(f"This action needs the role {' or '.join(map(str, roles))}; you are "
                        f"signed in as {who.role.value}.")
    return who


def tenant_id(connection: HTTPConnection) -> int:
    """Return the tenant a request acts for: the user's, or the public path's workspace."""
    value = connection.scope.get(SCOPE_TENANT)
    if value is None:
        raise NotAuthenticated("Sign in to use this app.")
    return int(value)


def csrf_token(connection: HTTPConnection) -> str:
    """Return the CSRF token a page must send back in a `csrf_token` form field or the
    `X-CSRF-Token` header: the session's when signed in, else the double-submit cookie's
    (set on the response by the portal)."""
    token = connection.scope.get(SCOPE_CSRF)
    assert isinstance(token, str), "csrf_token() called outside the portal's middleware"
    return token


def app_context(connection: HTTPConnection) -> AppContext:
    """Return the context of the app that serves this request."""
    context = connection.scope.get(SCOPE_APP)
    assert isinstance(context, AppContext), "app_context() called outside an app's routes"
    return context


@dataclass(frozen=True)
class UserRecord:
    """The public facts of one user of a workspace, without credentials."""

    id: int
    name: str
    email: str
    role: Role
    is_active: bool


async def find_users(
    session: AsyncSession, tenant_id: int, *, ids: Iterable[int] | None = None,
    emails: Iterable[str] | None = None, roles: Iterable[Role | str] | None = None,
) -> list[UserRecord]:
    """Return the users of `tenant_id` that match every filter given, ordered by id.

    `ids` and `emails` (compared case-insensitively) and `roles` each keep the users listed.
    An empty iterable matches no user, and None does not filter. Inactive users are included,
    so check `is_active` before giving one work.
    """
    statement = select(User).where(User.tenant_id == tenant_id).order_by(col(User.id))
    if ids is not None:
        statement = statement.where(col(User.id).in_(list(ids)))
    if emails is not None:
        lowered = [email.strip().lower() for email in emails]
        statement = statement.where(func.lower(User.email).in_(lowered))
    if roles is not None:
        statement = statement.where(col(User.role).in_([Role(role) for role in roles]))
    return [
        UserRecord(id=user.id, name=user.name, email=user.email, role=user.role,
                   is_active=user.is_active)
        for user in (await session.exec(statement)).all() if user.id is not None
    ]
