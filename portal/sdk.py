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
- `AppBackend.mail_handler(context, session, tenant_id, mail, inbound_id)`: receives
  each inbound message (a `ParsedMail`) for an address the app registered with
  `do_set_mail_addresses`, in the transaction that marks it processed, and returns an
  outcome string; an exception quarantines the message.
- `AppContext.publish(session, ...)`: stages an event declared in the manifest; it
  reaches desktops after the transaction commits.
- `AppContext.queue_mail(session, tenant_id=..., mail=OutgoingMail(...))`: stages an
  email in the transaction; the portal's outbox sends it after the commit.
- `AppContext.mail_deliveries(session, tenant_id=..., refs=...)`: the delivery state of
  the app's mail, as `MailDelivery`s.
- `AppContext.verify_message_id(message_id)`: the tenant of a Message-ID the portal
  made, or None.
- `AppContext.absolute_url(path)`: a link to the portal for mail and other channels.
- `AppContext.hit_rate_limit(limit, subject, session=None)`: counts one hit of a
  `RateLimit` in the database, so the limit holds across every portal process, and
  returns a `RateLimitResult` (allowed, or the seconds to wait).
- `find_users(session, tenant_id, ...)`: looks up the workspace's users as `UserRecord`s.
- `insert_row(session, row)` and `core_connection(session)`: one INSERT of a new row,
  and the transaction's connection for Core statements, for hot paths (docs/apps.md).
- `cached_config(session, tenant_id, key, load, tables=...)`: a value of the workspace's
  configuration from the per-process cache, loaded again only after the workspace's
  configuration version changed (database triggers change it; see docs/apps.md).
  `USERS` names the users' table for `tables` when the value holds users from
  `find_users`; `NO_CONFIG_CHANGE` marks a write that the triggers leave out.
- `AppContext.stage_sync(session, tenant_id=..., stream=..., payload=...)`: on a child
  installation, stages an XML element for the master in the transaction; returns the
  item id, or None when no master is configured. `AppContext.replace_sync(session,
  item_id, payload)` replaces it later in the same transaction.
- `AppContext.has_sync_master(session)`: whether this installation pushes to a master,
  looked up once per transaction; check it before building a document.
- `AppBackend.sync_backfill(context, session, tenant_id, after, limit)`: on a child,
  stages up to `limit` records of the workspace that were never pushed, with keys above
  `after`, and returns a `BackfillBatch`; `python -m portal sync push-existing` calls
  it in short transactions until `next_after` is None.
- `AppContext.sync_states(session, tenant_id=..., streams=...)`: the push state of the
  app's streams, as `SyncState`s.
- `AppBackend.sync_applier(context, session, item)`: on a master, applies one pushed
  `SyncItem` in the batch's transaction and returns "applied" or "duplicate"; raising
  `SyncRejected` rejects the whole batch. `parse_untrusted_xml` and `check_valid` parse
  and validate XML with the sync transport's safe settings.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from lxml import etree
from sqlalchemy import func
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute

from portal import leases
from portal.auth.sessions import Principal
from portal.config_cache import NO_CONFIG_CHANGE
from portal.config_cache import cached as cached_config
from portal.db import (
    MAX_ROW_ID,
    Database,
    UTCDateTime,
    after_commit,
    core_connection,
    insert_row,
    utcnow,
)
from portal.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound, PortalError
from portal.events.bus import EventBus
from portal.events.log import stage_event, stage_events
from portal.events.model import Audience, Event, EventDraft, Notification
from portal.mail.compose import MailAddress, OutgoingAttachment, OutgoingMail, is_mailable
from portal.mail.inbound_addresses import do_set_mail_addresses, list_mail_addresses
from portal.mail.outbox import MailDelivery, MailGateway, QueuedMail, deliveries, mail_profile
from portal.mail.parse import Address, Bounce, BounceRecipient, MailAttachment, ParsedMail
from portal.models import Role, User
from portal.rate_limits import RateLimit, RateLimiter, RateLimitResult
from portal.registry.manifest import Manifest
from portal.sync.items import BackfillBatch, SyncItem, SyncRejected
from portal.sync.outbox import SyncGateway, SyncState, stream_states
from portal.sync.parser import XmlRejected, check_valid, parse_untrusted_xml
from portal.tenants import access_row

__all__ = [
    "MAX_ROW_ID", "NO_CONFIG_CHANGE", "SDK_SCRIPT", "USERS", "Address", "AppBackend", "AppContext",
    "Audience", "BackfillBatch", "Bounce", "BounceRecipient", "Conflict", "Event",
    "EventDraft", "Forbidden", "InvalidInput", "Job", "MailAddress", "MailAttachment",
    "MailDelivery", "MailHandler", "NotAuthenticated", "NotFound", "Notification",
    "OutgoingAttachment", "OutgoingMail", "ParsedMail", "PortalError", "Principal",
    "QueuedMail", "RateLimit", "RateLimitResult", "Role", "SyncApplier", "SyncBackfill",
    "SyncItem", "SyncRejected", "SyncState", "UTCDateTime", "UserRecord", "XmlRejected",
    "access_row", "after_commit", "app_context", "cached_config", "check_valid",
    "core_connection", "csrf_token", "do_set_mail_addresses", "find_users", "insert_row",
    "is_mailable", "list_mail_addresses", "parse_untrusted_xml", "principal",
    "require_role", "tenant_id", "utcnow", "workspace_name",
]

# The shell's SDK module for app windows: `<script type="module">import { portal } from
# "/static/shell/sdk.js"</script>`.
SDK_SCRIPT = "/static/shell/sdk.js"

# The users' table, for `cached_config(..., tables=...)` of a value that contains users
# as `find_users` returns them. Its triggers (migration portal_0010) give the workspace a
# new configuration version whenever a user changes.
USERS = User.__table__  # type: ignore[attr-defined]

SCOPE_PRINCIPAL = "miportal.principal"
SCOPE_TENANT = "miportal.tenant_id"
SCOPE_APP = "miportal.app_context"
SCOPE_CSRF = "miportal.csrf_token"

Hook = Callable[["AppContext", AsyncSession, int], Awaitable[None]]
# (context, session, tenant_id, mail, inbound_id) -> an outcome such as "ticket 12".
MailHandler = Callable[["AppContext", AsyncSession, int, ParsedMail, int], Awaitable[str]]
# (context, session, item) -> "applied" or "duplicate".
SyncApplier = Callable[["AppContext", AsyncSession, SyncItem], Awaitable[str]]
# (context, session, tenant_id, after, limit) -> what was staged and where to continue.
SyncBackfill = Callable[["AppContext", AsyncSession, int, int, int], Awaitable[BackfillBatch]]


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
    mail_handler: MailHandler | None = None
    sync_applier: SyncApplier | None = None
    sync_backfill: SyncBackfill | None = None


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
    # The portal's outbound mail; None only for a context built outside the registry.
    mail: MailGateway | None = None
    # The portal's sync outbox; None only for a context built outside the registry.
    sync: SyncGateway | None = None
    # The portal's rate limits; None only for a context built outside the registry.
    rate_limiter: RateLimiter | None = None
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
        self._check_declared(topic)
        return await stage_event(session, self.bus, tenant_id=tenant_id, topic=topic,
                                 payload=payload, audience=audience, notification=notification)

    async def publish_all(self, session: AsyncSession, *, tenant_id: int,
                          drafts: Sequence[EventDraft]) -> list[Event]:
        """Stage several events at once, as `publish` does each: they get consecutive
        sequence numbers in the order given, for the cost of one. Raises InvalidInput
        when a topic is not declared in the manifest's `events`; then none is staged."""
        for draft in drafts:
            self._check_declared(draft.topic)
        return await stage_events(session, self.bus, tenant_id=tenant_id, drafts=drafts)

    def _check_declared(self, topic: str) -> None:
        if topic not in self.manifest.event_topics:
            declared = ", ".join(sorted(self.manifest.event_topics)) or "none"
            raise InvalidInput(f"App {self.app_id!r} publishes undeclared topic {topic!r}; "
                               f"declare it in manifest.json 'events' (declared: {declared}).",
                               field="topic")

    async def queue_mail(self, session: AsyncSession, *, tenant_id: int,
                         mail: OutgoingMail) -> QueuedMail:
        """Stage `mail` in `session`'s transaction and return its outbox id and Message-ID.

        The workspace's sender is the From. A rollback drops the mail; after the commit
        the portal delivers it, retrying temporary failures. Raises InvalidInput, naming
        the field, for a header with a line break or control character, an invalid
        address or Message-ID, or a missing recipient.
        """
        return await self._mail().stage(session, tenant_id=tenant_id, app_id=self.app_id,
                                        mail=mail)

    async def mail_deliveries(self, session: AsyncSession, *, tenant_id: int,
                              refs: Iterable[str]) -> list[MailDelivery]:
        """Return the delivery state of this app's mail with the given refs, oldest
        first. `status` is one of queued, sending, sent, retrying, failed, no_relay."""
        return await deliveries(session, tenant_id=tenant_id, app_id=self.app_id, refs=refs)

    async def claim_lease(self, name: str, *, ttl: timedelta,
                          owner: str | None = None) -> bool:
        """Take or renew this app's lease `name` until now + `ttl` and return whether
        `owner` (by default this process) holds it now.

        Use it for work that one portal process at a time may do when several share a
        database. A lease held by another owner is taken over only once it expired, so
        a crashed process hands its work on after `ttl`. The app's jobs need none: the
        portal runs each job in one process at a time already.
        """
        return await leases.claim(self.db, f"{self.app_id}:{name}",
                                  owner or leases.process_owner(), ttl)

    async def release_lease(self, name: str, *, owner: str | None = None) -> bool:
        """Give up this app's lease `name`, if `owner` (by default this process) holds
        it; return whether it did."""
        return await leases.release(self.db, f"{self.app_id}:{name}",
                                    owner or leases.process_owner())

    def verify_message_id(self, message_id: str) -> int | None:
        """Return the tenant id of a Message-ID the portal made (such as one in an
        incoming reply's In-Reply-To), or None when the portal did not make it."""
        return self._mail().verify_message_id(message_id)

    def absolute_url(self, path: str) -> str:
        """Return `path` (starting with /) as a full link to this portal, for mail."""
        if not path.startswith("/"):
            raise InvalidInput(f"Invalid path {path!r}: start it with /.", field="path")
        return self._mail().public_url + path

    async def hit_rate_limit(self, limit: RateLimit, subject: str, *,
                             session: AsyncSession | None = None) -> RateLimitResult:
        """Count one hit of `subject` (such as a client address or an email address)
        under `limit` and return whether it was allowed or how long to wait.

        The count lives in the portal's database, so the limit holds across every
        portal process and survives restarts. Concurrent hits never let more than
        `limit.max_hits` through in one window, and a rejected hit is not counted. The
        limit's name is scoped to this app, and the subject is stored only as an HMAC
        digest. With `session` (from `context.transaction()`), the hit belongs to that
        transaction, so a rollback takes it back, and on PostgreSQL the counter row
        stays locked until the transaction ends. Without it, the hit commits at once.
        """
        return await self._rate_limiter().hit(self._scoped(limit), subject, session=session)

    async def reset_rate_limit(self, limit: RateLimit, subject: str, *,
                               session: AsyncSession | None = None) -> None:
        """Forget every hit of `subject` under `limit`, such as after a successful
        sign-in."""
        await self._rate_limiter().reset(self._scoped(limit), subject, session=session)

    def _scoped(self, limit: RateLimit) -> RateLimit:
        return RateLimit(name=f"{self.app_id}:{limit.name}", max_hits=limit.max_hits,
                         window_seconds=limit.window_seconds)

    def _rate_limiter(self) -> RateLimiter:
        if self.rate_limiter is None:
            raise RuntimeError(f"App {self.app_id!r} has no rate limiter; load it through "
                               "the portal's registry")
        return self.rate_limiter

    async def stage_sync(self, session: AsyncSession, *, tenant_id: int, stream: str,
                         payload: etree._Element) -> int | None:
        """Stage `payload` (an element of the app's own XML namespace) for the master in
        `session`'s transaction and return its outbox item id, or None when this
        installation has no master. Items of one `stream` reach the master in the order
        staged. Raises InvalidInput for an empty or long stream or a payload over 2 MiB.
        """
        return await self._sync().stage(session, app_id=self.app_id, tenant_id=tenant_id,
                                        stream=stream, payload=payload)

    async def has_sync_master(self, session: AsyncSession) -> bool:
        """Return whether this installation pushes to a master; the lookup runs once per
        transaction. Without a master, `stage_sync` stages nothing, so an app skips
        building its document."""
        return await self._sync().has_master(session)

    async def replace_sync(self, session: AsyncSession, item_id: int,
                           payload: etree._Element) -> None:
        """Replace the payload of an item this transaction staged, before it commits."""
        await self._sync().replace(session, item_id, payload)

    async def sync_states(self, session: AsyncSession, *, tenant_id: int,
                          streams: Iterable[str]) -> dict[str, SyncState]:
        """Return the push state of each of the app's streams in the workspace."""
        return await stream_states(session, tenant_id=tenant_id, app_id=self.app_id,
                                   streams=streams)

    def _sync(self) -> SyncGateway:
        if self.sync is None:
            raise RuntimeError(f"App {self.app_id!r} has no sync gateway; load it through "
                               "the portal's registry")
        return self.sync

    def _mail(self) -> MailGateway:
        if self.mail is None:
            raise RuntimeError(f"App {self.app_id!r} has no mail gateway; load it through "
                               "the portal's registry")
        return self.mail

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
    statement = _users_statement(ids is not None, emails is not None, roles is not None)
    params: dict[str, Any] = {"tenant_id": tenant_id}
    if ids is not None:
        params["ids"] = list(ids)
    if emails is not None:
        params["emails"] = [email.strip().lower() for email in emails]
    if roles is not None:
        params["roles"] = [Role(role) for role in roles]
    return [
        UserRecord(id=row.id, name=row.name, email=row.email, role=row.role,
                   is_active=row.is_active)
        for row in (await session.exec(statement, params=params)).all()  # type: ignore[call-overload]
    ]


@functools.cache
def _users_statement(by_ids: bool, by_emails: bool,
                     by_roles: bool) -> sa.Select[int | None, str, str, Role, bool]:
    """Return the query of `find_users` for one combination of filters, built once.

    It selects columns, not User objects: a record needs five fields, and loading whole
    rows into the session costs more than the query. Building the statement on each call
    cost more than running it."""
    statement = (sa.select(col(User.id), col(User.name), col(User.email), col(User.role),
                           col(User.is_active))
                 .where(col(User.tenant_id) == sa.bindparam("tenant_id"))
                 .order_by(col(User.id)))
    if by_ids:
        statement = statement.where(col(User.id).in_(sa.bindparam("ids", expanding=True)))
    if by_emails:
        statement = statement.where(
            func.lower(User.email).in_(sa.bindparam("emails", expanding=True)))
    if by_roles:
        statement = statement.where(col(User.role).in_(sa.bindparam("roles", expanding=True)))
    return statement


async def workspace_name(session: AsyncSession, tenant_id: int) -> str:
    """Return the display name of the tenant's workspace, for mail and other text that
    leaves the portal; raises NotFound for an unknown tenant."""
    try:
        return (await mail_profile(session, tenant_id)).name
    except InvalidInput as error:
        raise NotFound(f"Workspace {tenant_id} not found.", field="tenant_id") from error
