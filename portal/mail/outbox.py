"""The durable outbox of outgoing mail, and the gateway apps stage mail through.

An outbox row's status is a state machine:

    queued ──claim──> sending ──> sent
    retrying ─claim─┘    │ └────> retrying (4xx reply or no connection; later claim again)
    no_relay ─claim─┘    │ └────> failed   (5xx reply, or too many attempts or too old)
                         └──────> no_relay (neither the tenant nor the portal has a relay)

A claim is one UPDATE that sets the lease (owner and expiry) on the due rows, so two
workers never send the same row. A claim also moves `next_attempt_at` to the lease's
expiry: a worker that dies mid-send leaves a `sending` row that becomes due again when
its lease runs out, and the next claim counts that lost attempt.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    Column,
    Index,
    LargeBinary,
    String,
    Text,
    case,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.config_cache import cached
from portal.db import UTCDateTime, after_commit, core_connection, get_kept, utcnow
from portal.errors import InvalidInput
from portal.mail.compose import (
    MailAddress,
    MessageIdSigner,
    OutgoingMail,
    check_domain,
    check_mail,
    compose,
    derive_key,
)
from portal.mail.outbound_relay import MailSettings, RelayConfig, load_mail_settings
from portal.models import Tenant

logger = logging.getLogger(__name__)

MAX_ERROR = 1000
NO_RELAY_ERROR = ("No SMTP relay is configured; set --smtp-relay or the workspace's mail "
                  "settings.")
# How long mail without a relay waits before the delivery worker looks again; saving a
# relay makes it due at once (`do_release_no_relay`).
NO_RELAY_RECHECK = timedelta(minutes=1)


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    # Waiting for a relay: neither the tenant nor the portal has one configured.
    NO_RELAY = "no_relay"


CLAIMABLE = (OutboxStatus.QUEUED, OutboxStatus.RETRYING, OutboxStatus.NO_RELAY,
             OutboxStatus.SENDING)
TRANSITIONS: dict[OutboxStatus, frozenset[OutboxStatus]] = {
    OutboxStatus.QUEUED: frozenset({OutboxStatus.SENDING}),
    OutboxStatus.RETRYING: frozenset({OutboxStatus.SENDING}),
    OutboxStatus.NO_RELAY: frozenset({OutboxStatus.SENDING}),
    # A sending row whose lease expired is claimed again.
    OutboxStatus.SENDING: frozenset({OutboxStatus.SENT, OutboxStatus.RETRYING,
                                     OutboxStatus.FAILED, OutboxStatus.NO_RELAY,
                                     OutboxStatus.SENDING}),
    OutboxStatus.SENT: frozenset(),
    # Only an admin's "retry now" (portal/mail/mail_log.py) moves a failed row on.
    OutboxStatus.FAILED: frozenset({OutboxStatus.RETRYING}),
}


def check_transition(old: OutboxStatus, new: OutboxStatus) -> None:
    if new not in TRANSITIONS[old]:
        raise ValueError(f"outbox row cannot move from {old.value} to {new.value}")


class OutboxMessage(SQLModel, table=True):
    """One outgoing message, from the app's transaction until the relay accepts or
    rejects it."""

    __tablename__ = "portal_mail_outbox"
    __table_args__ = (
        Index("ix_portal_mail_outbox_due", "status", "next_attempt_at"),
        Index("ix_portal_mail_outbox_ref", "tenant_id", "app_id", "ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id")
    app_id: str = Field(max_length=64)
    ref: str = Field(max_length=200)
    envelope_from: str = Field(max_length=254)
    # Comma-separated addresses; each was checked to contain no comma.
    envelope_to: str = Field(sa_column=Column(Text, nullable=False))
    message_id: str = Field(max_length=998, unique=True)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default=OutboxStatus.QUEUED.value,
                        sa_column=Column(String(16), nullable=False))
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow,
                                      sa_column=Column(UTCDateTime(), nullable=False))
    last_error: str | None = Field(default=None, max_length=MAX_ERROR)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(default_factory=utcnow,
                                 sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))

    @property
    def recipients(self) -> list[str]:
        return self.envelope_to.split(",")


_INSERT_OUTBOX = OutboxMessage.__table__.insert().returning(  # type: ignore[attr-defined]
    OutboxMessage.__table__.c.id)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class QueuedMail:
    """The result of `MailGateway.stage`: the outbox row's id and the Message-ID."""

    id: int
    message_id: str


@dataclass(frozen=True)
class MailDelivery:
    """The delivery state of one staged message, as apps see it."""

    id: int
    ref: str
    message_id: str
    recipients: tuple[str, ...]
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class MailProfile:
    """A workspace's mail identity: its slug and name, the From of its mail settings and
    its own relay, if any."""

    slug: str
    name: str
    from_address: str | None
    from_name: str | None
    relay: RelayConfig | None


async def mail_profile(session: AsyncSession, tenant_id: int) -> MailProfile:
    """Return the workspace's MailProfile, from the configuration cache while neither the
    workspace nor its mail settings changed. Raises InvalidInput for an unknown tenant."""
    return await cached(session, tenant_id, "portal.mail.profile", _load_profile,
                        tables=_PROFILE_TABLES)


_PROFILE_TABLES = (MailSettings, Tenant)


async def _load_profile(session: AsyncSession, tenant_id: int) -> MailProfile:
    settings = await load_mail_settings(session, tenant_id)
    tenant = await get_kept(session, Tenant, tenant_id)
    if tenant is None:
        raise InvalidInput(f"Tenant {tenant_id} not found; mail needs a workspace.",
                           field="tenant_id")
    return MailProfile(slug=tenant.slug, name=tenant.name, from_address=settings.from_address,
                       from_name=settings.from_name, relay=settings.relay())


class MailGateway:
    """The portal's outbound mail: stages messages and wakes the delivery worker.

    `public_url` is where users reach the portal; its host name is the default mail
    domain, unless it is an IP address or has no dot, in which case `localhost` is.
    """

    def __init__(self, *, secret_key: str, public_url: str = "http://localhost:8000",
                 default_relay: RelayConfig | None = None) -> None:
        self.signer = MessageIdSigner(derive_key(secret_key, "mail-message-id"))
        self.public_url = public_url.rstrip("/")
        self.default_relay = default_relay
        self.default_domain = default_domain(public_url)
        self.wakeup = asyncio.Event()

    def wake(self) -> None:
        """Tell the delivery worker of this process to look for due mail now."""
        self.wakeup.set()

    async def sender(self, session: AsyncSession, tenant_id: int) -> MailAddress:
        """Return the tenant's From: its settings' address and name, or
        `<workspace>@<default domain>` and the workspace name."""
        return self._sender(await mail_profile(session, tenant_id))

    def _sender(self, profile: MailProfile) -> MailAddress:
        return MailAddress(email=profile.from_address or f"{profile.slug}@{self.default_domain}",
                           name=profile.from_name or profile.name)

    async def relay_for(self, session: AsyncSession, tenant_id: int) -> RelayConfig | None:
        return (await mail_profile(session, tenant_id)).relay or self.default_relay

    async def stage(self, session: AsyncSession, *, tenant_id: int, app_id: str,
                    mail: OutgoingMail) -> QueuedMail:
        """Compose `mail` and add it to the outbox in `session`'s transaction; a rollback
        drops it. The delivery worker is woken after the commit."""
        check_mail(mail)
        profile = await mail_profile(session, tenant_id)
        sender = self._sender(profile)
        if mail.from_name is not None:
            sender = MailAddress(email=sender.email, name=mail.from_name)
        domain = sender.email.rpartition("@")[2]
        message_id = self.signer.new(tenant_id, domain)
        now = utcnow()
        row: dict[str, Any] = {
            "tenant_id": tenant_id, "app_id": app_id, "ref": mail.ref.strip(),
            "envelope_from": sender.email,
            "envelope_to": ",".join(recipient.email for recipient in (*mail.to, *mail.cc)),
            "message_id": message_id,
            "content": compose(mail, sender=sender, message_id=message_id),
            "status": OutboxStatus.QUEUED.value, "attempts": 0, "next_attempt_at": now,
            "last_error": None, "lease_owner": None, "lease_expires_at": None,
            "created_at": now, "sent_at": None,
        }
        if (profile.relay or self.default_relay) is None:
            # Nothing can send it now, so it is stored as the delivery worker would leave
            # it, without waking the worker for a pass that cannot send either.
            row.update(status=OutboxStatus.NO_RELAY.value, last_error=NO_RELAY_ERROR,
                       next_attempt_at=now + NO_RELAY_RECHECK)
        else:
            after_commit(session, self._wake_after_commit)
        # A Core INSERT: nothing reads the row back in this transaction, and an ORM
        # object would cost more than the INSERT.
        result = await (await core_connection(session)).execute(_INSERT_OUTBOX, row)
        row_id = int(result.scalar_one())
        logger.info("Queued mail %s (%s) of app %s in tenant %s for %s recipients", row_id,
                    row["ref"], app_id, tenant_id, len(mail.to) + len(mail.cc))
        return QueuedMail(id=row_id, message_id=message_id)

    async def _wake_after_commit(self) -> None:
        self.wake()

    def verify_message_id(self, message_id: str) -> int | None:
        """Return the tenant a Message-ID of ours belongs to, or None when it is not ours."""
        return self.signer.tenant_of(message_id)


def default_domain(public_url: str) -> str:
    host = urlsplit(public_url).hostname or ""
    if "." not in host or host.replace(".", "").isdigit() or ":" in host:
        return "localhost"
    try:
        return check_domain(host)
    except InvalidInput:
        return "localhost"


async def deliveries(session: AsyncSession, *, tenant_id: int, app_id: str,
                     refs: Iterable[str]) -> list[MailDelivery]:
    """Return the delivery state of an app's mail with the given refs, oldest first."""
    wanted = list(refs)
    if not wanted:
        return []
    statement = (select(OutboxMessage)
                 .where(col(OutboxMessage.tenant_id) == tenant_id,
                        col(OutboxMessage.app_id) == app_id,
                        col(OutboxMessage.ref).in_(wanted))
                 .order_by(col(OutboxMessage.id)))
    rows = (await session.exec(statement)).scalars().all()  # type: ignore[call-overload]
    return [MailDelivery(id=row.id, ref=row.ref, message_id=row.message_id,
                         recipients=tuple(row.recipients), status=row.status,
                         attempts=row.attempts, last_error=row.last_error,
                         created_at=row.created_at, sent_at=row.sent_at) for row in rows]


async def claim_due(session: AsyncSession, *, owner: str, lease: timedelta,
                    limit: int) -> Sequence[OutboxMessage]:
    """Lease up to `limit` due rows to `owner` with one UPDATE and return them.

    On PostgreSQL the inner SELECT locks the rows it picks and skips rows that another
    worker's claim has locked (FOR UPDATE SKIP LOCKED), so concurrent workers of several
    processes take disjoint rows without waiting. The outer WHERE repeats the due
    condition, because PostgreSQL re-checks only that after a wait, never the subquery.
    SQLite ignores the locking clause, and its single writer serializes the claims.
    """
    now = utcnow()
    expires = now + lease
    is_due = (col(OutboxMessage.status).in_([status.value for status in CLAIMABLE]),
              col(OutboxMessage.next_attempt_at) <= now)
    # A materialized CTE runs once. As a plain subquery PostgreSQL may rescan it for each
    # row, and a rescan skips the rows this UPDATE changed and returns further ones, so
    # more than `limit` rows would be claimed.
    due = (select(col(OutboxMessage.id))
           .where(*is_due)
           .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
           .limit(limit)
           .with_for_update(skip_locked=True)
           .cte("due_outbox")
           .prefix_with("MATERIALIZED"))
    statement = (update(OutboxMessage)
                 .where(col(OutboxMessage.id).in_(select(due.c.id)), *is_due)
                 .values(status=OutboxStatus.SENDING.value, lease_owner=owner,
                         lease_expires_at=expires, next_attempt_at=expires,
                         attempts=col(OutboxMessage.attempts) + case(
                             (col(OutboxMessage.status) == OutboxStatus.SENDING.value, 1),
                             else_=0))
                 .returning(OutboxMessage)
                 .execution_options(synchronize_session=False))
    result = await session.exec(statement)
    return list(result.scalars().all())


async def next_due(session: AsyncSession) -> datetime | None:
    """Return when the earliest row that waits for an attempt falls due, or None."""
    statement = select(func.min(col(OutboxMessage.next_attempt_at))).where(
        col(OutboxMessage.status).in_([status.value for status in CLAIMABLE]))
    value = (await session.exec(statement)).scalar_one_or_none()  # type: ignore[call-overload]
    if value is None:
        return None
    # func.min loses the column type, so SQLite returns the stored naive UTC text.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def finish(session: AsyncSession, row: OutboxMessage, *, owner: str,
                 status: OutboxStatus, next_attempt_at: datetime | None = None,
                 error: str | None = None, count_attempt: bool = True) -> bool:
    """Record the outcome of one attempt on a row this `owner` leased; return False (and
    change nothing) when the lease was lost to another worker meanwhile."""
    check_transition(OutboxStatus.SENDING, status)
    now = utcnow()
    values: dict[str, Any] = {
        "status": status.value, "lease_owner": None, "lease_expires_at": None,
        "next_attempt_at": next_attempt_at or now,
        "last_error": error[:MAX_ERROR] if error else None,
    }
    if count_attempt:
        values["attempts"] = col(OutboxMessage.attempts) + 1
    if status is OutboxStatus.SENT:
        values["sent_at"] = now
    statement = (update(OutboxMessage)
                 .where(col(OutboxMessage.id) == row.id,
                        col(OutboxMessage.status) == OutboxStatus.SENDING.value,
                        col(OutboxMessage.lease_owner) == owner)
                 .values(**values)
                 .execution_options(synchronize_session=False))
    result: CursorResult[Any] = await session.exec(statement)
    return result.rowcount == 1


async def do_prune_sent(session: AsyncSession, *, older_than: datetime) -> int:
    """Delete mail sent before `older_than` and return how many rows. Mail that failed or
    still waits stays: a failure is shown on its ticket until someone acts on it."""
    statement = (delete(OutboxMessage)
                 .where(col(OutboxMessage.status) == OutboxStatus.SENT.value,
                        col(OutboxMessage.sent_at) < older_than)
                 .execution_options(synchronize_session=False))
    result: CursorResult[Any] = await session.exec(statement)
    return int(result.rowcount)


async def do_release_no_relay(session: AsyncSession, *, tenant_id: int | None = None) -> int:
    """Make mail that waits for a relay due now (of one tenant, or of all); return how
    many rows. Call it after a relay was configured."""
    statement = (update(OutboxMessage)
                 .where(col(OutboxMessage.status) == OutboxStatus.NO_RELAY.value)
                 .values(next_attempt_at=utcnow())
                 .execution_options(synchronize_session=False))
    if tenant_id is not None:
        statement = statement.where(col(OutboxMessage.tenant_id) == tenant_id)
    result: CursorResult[Any] = await session.exec(statement)
    return int(result.rowcount)
