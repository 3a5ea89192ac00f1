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
        sa.Index("ix_ticketcloud_ticket_status", "tenant_id", "status"),
        sa.Index("ix_ticketcloud_ticket_assignee", "tenant_id", "assignee_id", "status"),
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


# In an order safe for deletion: a table comes before the tables that reference it, and
# the portal purges in reverse order. manifest.json's "data.tables" repeats this list.
TENANT_TABLES = (
    TenantSettings.__tablename__, TicketCounter.__tablename__, Category.__tablename__,
    Team.__tablename__, TeamMember.__tablename__, AgentProfile.__tablename__,
    Rule.__tablename__, Ticket.__tablename__, Message.__tablename__,
    Attachment.__tablename__, HistoryEntry.__tablename__, Rating.__tablename__,
)
