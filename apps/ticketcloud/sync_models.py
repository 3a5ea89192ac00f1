"""TicketCloud's sync tables: the change counter of each ticket on a child, and on a
master the copies of tickets that children pushed, with every version received."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from ticketcloud.columns import enum_field, json_field, timestamp
from ticketcloud.models import MAX_EMAIL, MAX_PERSON_NAME, MAX_SUBJECT, Channel, Priority
from ticketcloud.status import Status


class SyncCounter(SQLModel, table=True):
    """On a child: the last change version staged for a ticket. It counts every change
    that is pushed, including notes that leave `Ticket.version` alone."""

    __tablename__ = "ticketcloud_sync_ticket"

    ticket_id: int = Field(foreign_key="ticketcloud_ticket.id", primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    version: int = 0


class SyncedTicket(SQLModel, table=True):
    """On a master: the latest snapshot of a child's ticket, keyed by the child's
    installation id and its ticket id."""

    __tablename__ = "ticketcloud_synced_ticket"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "installation_id", "remote_id",
                            name="uq_ticketcloud_synced_ticket_remote"),
        sa.Index("ix_ticketcloud_synced_ticket_received", "tenant_id", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    installation_id: str = Field(max_length=32)
    # The child's name at the master when the snapshot arrived.
    source_name: str = Field(max_length=100)
    workspace: str = Field(max_length=63)
    remote_id: int
    number: int
    subject: str = Field(max_length=MAX_SUBJECT)
    status: Status = enum_field(Status)
    priority: Priority = enum_field(Priority)
    channel: Channel = enum_field(Channel)
    requester_email: str = Field(default="", max_length=MAX_EMAIL)
    requester_name: str = Field(default="", max_length=MAX_PERSON_NAME)
    assignee_name: str | None = Field(default=None, max_length=MAX_PERSON_NAME)
    tags: list[str] = json_field()
    message_count: int = 0
    version: int
    # The ticket element as received, for the detail view.
    document: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    remote_updated_at: datetime = timestamp()
    received_at: datetime = timestamp()


class SyncedChange(SQLModel, table=True):
    """On a master: one change version applied, so a repeat is told from a stale one."""

    __tablename__ = "ticketcloud_synced_change"
    __table_args__ = (
        sa.UniqueConstraint("synced_ticket_id", "version",
                            name="uq_ticketcloud_synced_change_version"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    synced_ticket_id: int = Field(foreign_key="ticketcloud_synced_ticket.id", index=True)
    version: int
    received_at: datetime = timestamp()
