"""TicketCloud's tables. Every row carries `tenant_id`, and every query filters on it.

The migrations in `migrations/` create these tables; `tests/apps/ticketcloud/
test_migrations.py` fails when the two differ.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from ticketcloud.columns import enum_field, json_field, timestamp
from ticketcloud.status import Status

MAX_NAME = 100
MAX_SUBJECT = 200
MAX_EMAIL = 254
MAX_PERSON_NAME = 200
MAX_HISTORY_VALUE = 500
MAX_AUTHSERV_ID = 255
DEFAULT_AUTO_CLOSE_HOURS = 72


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Channel(enum.StrEnum):
    """The source of a ticket."""

    WEB = "web"
    EMAIL = "email"
    API = "api"
    SYNC = "sync"


class Visibility(enum.StrEnum):
    """The audience of a message: everyone on the ticket, or agents only (an internal
    note)."""

    PUBLIC = "public"
    INTERNAL = "internal"


class AssignmentStrategy(enum.StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_OPEN = "least_open"


class MatchMode(enum.StrEnum):
    """Whether a rule needs all of its conditions or any one of them."""

    ALL = "all"
    ANY = "any"


class Team(SQLModel, table=True):
    __tablename__ = "ticketcloud_team"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_ticketcloud_team_name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    name: str = Field(max_length=MAX_NAME)
    strategy: AssignmentStrategy = enum_field(AssignmentStrategy,
                                              default=AssignmentStrategy.ROUND_ROBIN)
    # The user id that round robin picked last; the next pick is the first available
    # member with a higher id, wrapping around.
    round_robin_cursor: int | None = None
    created_at: datetime = timestamp()


class TeamMember(SQLModel, table=True):
    __tablename__ = "ticketcloud_team_member"
    __table_args__ = (
        sa.UniqueConstraint("team_id", "user_id", name="uq_ticketcloud_team_member"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    team_id: int = Field(foreign_key="ticketcloud_team.id", index=True)
    user_id: int = Field(foreign_key="portal_user.id", index=True)
    is_lead: bool = False


class AgentProfile(SQLModel, table=True):
    """An agent's TicketCloud state; an agent without a row is not away."""

    __tablename__ = "ticketcloud_agent_profile"

    user_id: int = Field(foreign_key="portal_user.id", primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    away: bool = False
    updated_at: datetime = timestamp()


class Category(SQLModel, table=True):
    __tablename__ = "ticketcloud_category"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name", name="uq_ticketcloud_category_name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    name: str = Field(max_length=MAX_NAME)


class Ticket(SQLModel, table=True):
    __tablename__ = "ticketcloud_ticket"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "number", name="uq_ticketcloud_ticket_number"),
        # One index per queue sort order, each led by (tenant, status): see
        # api_listing.search_tickets and migration ticketcloud_0010.
        sa.Index("ix_ticketcloud_ticket_queue_created", "tenant_id", "status", "created_at",
                 "number"),
        sa.Index("ix_ticketcloud_ticket_queue_updated", "tenant_id", "status", "updated_at",
                 "number"),
        sa.Index("ix_ticketcloud_ticket_queue_priority", "tenant_id", "status", "priority",
                 "number"),
        sa.Index("ix_ticketcloud_ticket_assignee", "tenant_id", "assignee_id", "status"),
        # The ticket list's `sla=overdue` filter on agent-set due times (migration
        # ticketcloud_0014).
        sa.Index("ix_ticketcloud_ticket_due", "tenant_id", "due_at"),
        # The SLA scan job's query for agent-set due times that passed (see
        # sla.due_alerts.due_tickets): unresolved tickets not yet alerted, by due time,
        # across tenants. Solved and closed tickets sit in other status ranges, so tickets
        # solved before their due time are never read again (migration ticketcloud_0018).
        sa.Index("ix_ticketcloud_ticket_due_alert", "due_alerted", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    # Per tenant, from TicketCounter; what agents and customers call the ticket ("#42").
    number: int
    subject: str = Field(max_length=MAX_SUBJECT)
    requester_user_id: int | None = Field(default=None, foreign_key="portal_user.id")
    requester_email: str = Field(max_length=MAX_EMAIL, index=True)
    requester_name: str = Field(default="", max_length=MAX_PERSON_NAME)
    channel: Channel = enum_field(Channel)
    status: Status = enum_field(Status, default=Status.NEW)
    priority: Priority = enum_field(Priority, default=Priority.NORMAL)
    category_id: int | None = Field(default=None, foreign_key="ticketcloud_category.id")
    team_id: int | None = Field(default=None, foreign_key="ticketcloud_team.id")
    assignee_id: int | None = Field(default=None, foreign_key="portal_user.id")
    tags: list[str] = json_field()
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()
    first_response_at: datetime | None = timestamp(nullable=True)
    solved_at: datetime | None = timestamp(nullable=True, index=True)
    closed_at: datetime | None = timestamp(nullable=True)
    # The due time an agent set ("due by"), in UTC; None when no agent set one. It is
    # separate from the SLA targets, and customers never see it.
    due_at: datetime | None = timestamp(nullable=True)
    # Set by the SLA scan job once it published `ticketcloud.ticket.due` for this
    # `due_at`. Changing or clearing `due_at` clears it, so each due time alerts once.
    due_alerted: bool = False
    # Optimistic concurrency: every change increments it, and an agent's update names the
    # version it was based on (see updates.claim_version).
    version: int = 1
    # SHA-256 of the nonce of the one rating link that still works, or None.
    rating_nonce_hash: str | None = Field(default=None, max_length=64)


class Message(SQLModel, table=True):
    """One entry of a ticket's conversation: a public reply or an internal note."""

    __tablename__ = "ticketcloud_message"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    ticket_id: int = Field(foreign_key="ticketcloud_ticket.id", index=True)
    author_user_id: int | None = Field(default=None, foreign_key="portal_user.id")
    # Set for authors without an account, such as a customer who wrote an email.
    author_email: str | None = Field(default=None, max_length=MAX_EMAIL)
    author_name: str = Field(default="", max_length=MAX_PERSON_NAME)
    from_agent: bool = False
    visibility: Visibility = enum_field(Visibility, default=Visibility.PUBLIC)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = timestamp()


class Attachment(SQLModel, table=True):
    __tablename__ = "ticketcloud_attachment"
    # Lookups by message always name the tenant too. With both columns in one index,
    # SQLite's planner never picks the tenant's index alone and reads every attachment
    # of the tenant (it has no statistics unless ANALYZE ran).
    __table_args__ = (sa.Index("ix_ticketcloud_attachment_tenant_message", "tenant_id",
                               "message_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    message_id: int = Field(foreign_key="ticketcloud_message.id", index=True)
    # A random name chosen by the server; the file is app_data_dir(tenant_id)/stored_name.
    stored_name: str = Field(max_length=64, unique=True)
    # The uploader's file name, for display and downloads only, never as a path.
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=127)
    size: int
    created_at: datetime = timestamp()


class HistoryEntry(SQLModel, table=True):
    """One change of one ticket field: who or which rule made it, and why."""

    __tablename__ = "ticketcloud_history"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    ticket_id: int = Field(foreign_key="ticketcloud_ticket.id", index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="portal_user.id")
    # No foreign key: the entry outlives a deleted rule and keeps the rule's name.
    rule_id: int | None = None
    rule_name: str | None = Field(default=None, max_length=MAX_NAME)
    field: str = Field(max_length=32)
    old_value: str | None = Field(default=None, max_length=MAX_HISTORY_VALUE)
    new_value: str | None = Field(default=None, max_length=MAX_HISTORY_VALUE)
    reason: str = Field(default="", max_length=MAX_HISTORY_VALUE)
    created_at: datetime = timestamp()


class Rule(SQLModel, table=True):
    """An assignment rule; `rules.check_rule` defines the shape of conditions and actions."""

    __tablename__ = "ticketcloud_rule"
    __table_args__ = (sa.Index("ix_ticketcloud_rule_position", "tenant_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    position: int
    name: str = Field(max_length=MAX_NAME)
    enabled: bool = True
    match: MatchMode = enum_field(MatchMode, default=MatchMode.ALL)
    conditions: list[dict[str, Any]] = json_field()
    actions: list[dict[str, Any]] = json_field()
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class Rating(SQLModel, table=True):
    """The requester's rating of a solved ticket; a later rating of the ticket replaces it."""

    __tablename__ = "ticketcloud_rating"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    ticket_id: int = Field(foreign_key="ticketcloud_ticket.id", unique=True)
    score: int
    comment: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    # The assignee and team when the ticket was rated, for the per-agent and per-team
    # roll-ups.
    agent_id: int | None = Field(default=None, foreign_key="portal_user.id")
    team_id: int | None = Field(default=None, foreign_key="ticketcloud_team.id")
    created_at: datetime = timestamp()


class MailDirection(enum.StrEnum):
    """How a Message-ID came to a ticket: on mail we sent, on mail we received, or named
    in the References of received mail before that mail itself arrived."""

    OUT = "out"
    IN = "in"
    REFERENCED = "referenced"


class MailThread(SQLModel, table=True):
    """A Message-ID sent or received on a ticket, so that replies thread onto it."""

    __tablename__ = "ticketcloud_mail_thread"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "message_id", name="uq_ticketcloud_mail_thread_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    ticket_id: int = Field(foreign_key="ticketcloud_ticket.id", index=True)
    # With its angle brackets, as in the Message-ID header.
    message_id: str = Field(max_length=998)
    direction: MailDirection = enum_field(MailDirection)
    # The conversation message the mail carried; None for mail that carried none, such
    # as the confirmation of a new ticket or a rating request.
    ticketcloud_message_id: int | None = Field(default=None,
                                               foreign_key="ticketcloud_message.id")
    created_at: datetime = timestamp()


class MailParticipant(SQLModel, table=True):
    """Someone besides the requester who takes part in a ticket's mail conversation, such
    as a colleague in Cc; agents' public replies are copied to them."""

    __tablename__ = "ticketcloud_mail_participant"
    __table_args__ = (
        sa.UniqueConstraint("ticket_id", "email", name="uq_ticketcloud_mail_participant"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    ticket_id: int = Field(foreign_key="ticketcloud_ticket.id", index=True)
    # Lowercased.
    email: str = Field(max_length=MAX_EMAIL)
    name: str = Field(default="", max_length=MAX_PERSON_NAME)
    created_at: datetime = timestamp()


class MailBounce(SQLModel, table=True):
    """A delivery failure report for mail of a ticket: the address bounced."""

    __tablename__ = "ticketcloud_mail_bounce"
    # Every inbound message looks up its sender's bounces (see Attachment's index).
    __table_args__ = (sa.Index("ix_ticketcloud_mail_bounce_tenant_email", "tenant_id",
                               "email"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    ticket_id: int = Field(foreign_key="ticketcloud_ticket.id", index=True)
    # Lowercased.
    email: str = Field(max_length=MAX_EMAIL)
    # The RFC 3463 status code, such as 5.1.1, or "" when the report had none.
    status: str = Field(default="", max_length=32)
    permanent: bool = True
    diagnostic: str = Field(default="", max_length=MAX_HISTORY_VALUE)
    created_at: datetime = timestamp()
    # When an agent cleared the mark, or mail from the address arrived; None while the
    # address counts as bouncing and ticket mail skips it.
    cleared_at: datetime | None = timestamp(nullable=True)


class MailSkipReason(enum.StrEnum):
    """Why ticket mail left a recipient out: the address bounced before, or the outbox
    cannot send to it at all (an address that is not ASCII, for example)."""

    BOUNCED = "bounced"
    UNMAILABLE = "unmailable"


class MailSkip(SQLModel, table=True):
    """A recipient that ticket mail left out, and why."""

    __tablename__ = "ticketcloud_mail_skip"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    ticket_id: int = Field(foreign_key="ticketcloud_ticket.id", index=True)
    # The conversation message the mail would have carried; None for mail that carries
    # none, such as a rating request.
    ticketcloud_message_id: int | None = Field(default=None,
                                               foreign_key="ticketcloud_message.id")
    # Lowercased.
    email: str = Field(max_length=MAX_EMAIL)
    reason: MailSkipReason = enum_field(MailSkipReason, default=MailSkipReason.BOUNCED)
    # When the bounce that marked the address arrived; None for an unmailable address.
    bounced_at: datetime | None = timestamp(nullable=True)
    created_at: datetime = timestamp()


class MailDetail(SQLModel, table=True):
    """What a conversation message received by mail keeps beyond its body, which is the
    mail's new text: the quoted history, the signature, the sanitized HTML and the
    attachments that were not stored."""

    __tablename__ = "ticketcloud_mail_detail"
    # Every inbound message checks for an earlier delivery by its inbound row (see
    # Attachment's index).
    __table_args__ = (sa.Index("ix_ticketcloud_mail_detail_tenant_inbound", "tenant_id",
                               "inbound_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    message_id: int = Field(foreign_key="ticketcloud_message.id", unique=True)
    # The portal's inbound mail row, whose stored file is the original message. No
    # foreign key: the portal may prune its rows.
    inbound_id: int | None = Field(default=None, index=True)
    quoted_text: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    signature: str = Field(default="", sa_column=sa.Column(sa.Text, nullable=False))
    # Sanitized by the portal's parser (nh3); images may only reference `cid:` parts.
    html: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    # Content-ID (without angle brackets) to the attachment id that stores the part.
    inline_images: dict[str, Any] = json_field(default_factory=dict)
    # [{"filename": ..., "size": ..., "reason": ...}] for parts over the limits.
    skipped: list[dict[str, Any]] = json_field()
    created_at: datetime = timestamp()


class TicketCounter(SQLModel, table=True):
    """The last ticket number handed out per tenant."""

    __tablename__ = "ticketcloud_ticket_counter"

    tenant_id: int = Field(foreign_key="portal_tenant.id", primary_key=True)
    last_number: int = 0


class TenantSettings(SQLModel, table=True):
    """TicketCloud's settings of one tenant; a tenant without a row has the defaults."""

    __tablename__ = "ticketcloud_settings"

    tenant_id: int = Field(foreign_key="portal_tenant.id", primary_key=True)
    auto_close_hours: int = DEFAULT_AUTO_CLOSE_HOURS
    # Whether customers see their ticket's category.
    expose_category: bool = False
    # The authserv-id of the Authentication-Results headers that the workspace's own
    # mail server adds (RFC 8601); "" trusts no header, so no agent mail is verified.
    mail_trusted_authserv_id: str = Field(default="", max_length=MAX_AUTHSERV_ID)


class MailTemplateKind(enum.StrEnum):
    """The mails whose text an admin can change; `mail_templates.py` has the defaults."""

    CONFIRMATION = "confirmation"
    REPLY = "reply"
    RATING_REQUEST = "rating_request"


class MailTemplate(SQLModel, table=True):
    """A tenant's own Jinja2 templates for one kind of mail; a kind without a row uses
    the default templates."""

    __tablename__ = "ticketcloud_mail_template"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "kind", name="uq_ticketcloud_mail_template_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    kind: MailTemplateKind = enum_field(MailTemplateKind)
    subject: str = Field(max_length=500)
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # None sends a plain text mail.
    html: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    updated_by: int | None = None
    updated_at: datetime = timestamp()


class SlaCalendar(SQLModel, table=True):
    """Business hours for SLA targets; `sla.calendars.check_calendar` defines the JSON."""

    __tablename__ = "ticketcloud_sla_calendar"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "name", name="uq_ticketcloud_sla_calendar_name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    name: str = Field(max_length=MAX_NAME)
    # An IANA zone name; business hours are wall-clock times of this zone.
    time_zone: str = Field(max_length=64)
    # Weekday ("mon".."sun") to a list of ["HH:MM", "HH:MM"] intervals.
    hours: dict[str, Any] = json_field(default_factory=dict)
    # [{"date": "YYYY-MM-DD", "name": "..."}], sorted by date.
    holidays: list[dict[str, str]] = json_field()
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class SlaPolicy(SQLModel, table=True):
    """An SLA policy; `sla.policies.check_policy` defines the shape of its conditions."""

    __tablename__ = "ticketcloud_sla_policy"
    __table_args__ = (sa.Index("ix_ticketcloud_sla_policy_position", "tenant_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    position: int
    name: str = Field(max_length=MAX_NAME)
    enabled: bool = True
    conditions: dict[str, Any] = json_field(default_factory=dict)
    # None measures the targets on the 24/7 calendar in UTC.
    calendar_id: int | None = Field(default=None, foreign_key="ticketcloud_sla_calendar.id")
    # Business minutes per target kind; None sets no target of that kind.
    first_response_minutes: int | None = None
    next_response_minutes: int | None = None
    resolution_minutes: int | None = None
    # The share of a target's time, in percent, after which the target counts as at risk.
    warning_percent: int = 80
    # What the scanner does when a target of this policy is breached, besides publishing
    # the breach: [{"action": "notify" | "raise_priority" | "reassign", ...}]; see
    # `sla.escalation_actions.check_escalation`.
    escalation: list[dict[str, Any]] = json_field(default_factory=lambda: [{"action": "notify"}])
    created_at: datetime = timestamp()
    updated_at: datetime = timestamp()


class TargetKind(enum.StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class TargetState(enum.StrEnum):
    """A target's clock: running, paused (the ticket waits on the customer or on hold),
    met (completed by its due time) or breached (completed after it)."""

    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"


class SlaTarget(SQLModel, table=True):
    """One SLA target of one ticket, such as its first response due in 60 business
    minutes. `sla.targets` moves it through its states."""

    __tablename__ = "ticketcloud_sla_target"
    __table_args__ = (
        # The scanner's queries (sla.targets.due_targets and at_risk_targets): running
        # targets not yet published, by due time and by warning time, across tenants, so
        # that a pass reads only the rows it publishes.
        sa.Index("ix_ticketcloud_sla_target_due", "state", "breach_published", "due_at"),
        sa.Index("ix_ticketcloud_sla_target_warn", "state", "warning_published", "warn_at"),
        # The ticket list's `sla=overdue` and `sla=at_risk` filters, within one tenant.
        sa.Index("ix_ticketcloud_sla_target_tenant_due", "tenant_id", "state", "due_at"),
        sa.Index("ix_ticketcloud_sla_target_tenant_warn", "tenant_id", "state", "warn_at"),
        # A ticket's targets (see Attachment's index).
        sa.Index("ix_ticketcloud_sla_target_tenant_ticket", "tenant_id", "ticket_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    ticket_id: int = Field(foreign_key="ticketcloud_ticket.id", index=True)
    kind: TargetKind = enum_field(TargetKind)
    state: TargetState = enum_field(TargetState, default=TargetState.RUNNING)
    # No foreign keys: a target outlives its policy and calendar being deleted.
    policy_id: int | None = None
    calendar_id: int | None = None
    target_minutes: int
    # Business seconds after which the target is at risk: the policy's warning share of
    # the target, rounded up to the second.
    warning_seconds: int
    # Business seconds consumed before `running_since`, through earlier runs of the clock.
    # Seconds, not minutes, so that banking a run never rounds business time away.
    consumed_seconds: int = 0
    started_at: datetime = timestamp()
    # When the clock last started or resumed; None while paused or completed.
    running_since: datetime | None = timestamp(nullable=True)
    # When the target is due and when it becomes at risk; None while paused.
    due_at: datetime | None = timestamp(nullable=True)
    warn_at: datetime | None = timestamp(nullable=True)
    completed_at: datetime | None = timestamp(nullable=True)
    # Set by the scanner once it published the warning and the breach event.
    warning_published: bool = False
    breach_published: bool = False
    updated_at: datetime = timestamp()


# In an order safe for deletion: a table comes before the tables that reference it, and
# the portal purges in reverse order. manifest.json's "data.tables" repeats this list.
TENANT_TABLES = (
    TenantSettings.__tablename__, TicketCounter.__tablename__, Category.__tablename__,
    Team.__tablename__, TeamMember.__tablename__, AgentProfile.__tablename__,
    Rule.__tablename__, Ticket.__tablename__, Message.__tablename__,
    Attachment.__tablename__, HistoryEntry.__tablename__, Rating.__tablename__,
    MailThread.__tablename__, MailParticipant.__tablename__, MailBounce.__tablename__,
    MailSkip.__tablename__, MailDetail.__tablename__,
    MailTemplate.__tablename__,
    SlaCalendar.__tablename__, SlaPolicy.__tablename__, SlaTarget.__tablename__,
    # Defined in sync_models.py, which imports this module.
    "ticketcloud_sync_ticket", "ticketcloud_synced_ticket", "ticketcloud_synced_change",
)
