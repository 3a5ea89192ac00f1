"""Tables of IMAP polling: each tenant's mailboxes with their poll state, and the UIDs
already stored from them."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.mail.inbound_models import MAX_ADDRESS
from portal.models import _enum_column, _timestamp


class ImapSecurity(enum.StrEnum):
    """How the connection to an IMAP server is protected."""

    NONE = "none"  # plain IMAP, only for a server on the same host or a trusted network
    STARTTLS = "starttls"  # upgraded with STARTTLS, usually on port 143
    TLS = "tls"  # TLS from the first byte (IMAPS), usually on port 993


DEFAULT_PORTS = {ImapSecurity.NONE: 143, ImapSecurity.STARTTLS: 143, ImapSecurity.TLS: 993}


class ImapMailbox(SQLModel, table=True):
    """A mailbox that the portal polls for one tenant; each new message is stored by the
    inbound gateway for `app_id`. The password is kept for the poller and never returned
    by the admin API or written to a log.

    The poll state (`last_*`, `next_poll_at`, `failures`) is written only by the poller.
    """

    __tablename__ = "portal_mail_imap_mailbox"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="portal_tenant.id", index=True)
    name: str = Field(max_length=100)
    app_id: str = Field(max_length=64)
    host: str = Field(max_length=253)
    port: int
    security: ImapSecurity = _enum_column(ImapSecurity)
    # A PEM file of the CA certificates that verify the server's certificate, in place
    # of the system's trust store; None uses the system's.
    ca_file: str | None = Field(default=None, max_length=1024)
    username: str = Field(max_length=254)
    password: str = Field(max_length=512)
    folder: str = Field(default="INBOX", max_length=200)
    # Where stored messages go; None marks them \Seen and leaves them in `folder`.
    move_to: str | None = Field(default=None, max_length=200)
    enabled: bool = True
    interval_seconds: int = 60
    last_poll_at: datetime | None = _timestamp(nullable=True)
    last_success_at: datetime | None = _timestamp(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    next_poll_at: datetime | None = _timestamp(nullable=True)
    failures: int = 0
    fetched_total: int = 0
    created_at: datetime = _timestamp()
    updated_at: datetime = _timestamp()

    @property
    def recipient(self) -> str:
        """The address recorded as the recipient of polled mail: the user name when it is
        an address, else `user@host`."""
        address = self.username if "@" in self.username else f"{self.username}@{self.host}"
        return address.lower()[:MAX_ADDRESS]


class ImapSeen(SQLModel, table=True):
    """A message of a mailbox that the inbound gateway stored, by UIDVALIDITY and UID
    (RFC 3501, section 2.3.1.1): the pair names one message for as long as the folder
    exists. A poll that finds the pair here only flags the message again."""

    __tablename__ = "portal_mail_imap_seen"
    __table_args__ = (UniqueConstraint("mailbox_id", "uidvalidity", "uid",
                                       name="uq_portal_mail_imap_seen_uid"),)

    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="portal_mail_imap_mailbox.id", index=True)
    uidvalidity: int
    uid: int
    inbound_id: int = Field(foreign_key="portal_mail_inbound.id")
    flagged: bool = False
    stored_at: datetime = _timestamp()
