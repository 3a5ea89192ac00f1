"""Admin actions on a tenant's IMAP mailboxes: check, create, change, delete, and the
view the admin API returns, which never contains the password."""

from __future__ import annotations

import logging
import re
import ssl
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import utcnow
from portal.errors import InvalidInput, NotFound
from portal.mail.imap_client import tls_context
from portal.mail.imap_models import DEFAULT_PORTS, ImapMailbox, ImapSecurity, ImapSeen

logger = logging.getLogger(__name__)

MAILBOX_FIELDS = ("name", "app_id", "host", "port", "security", "ca_file", "username",
                  "password", "folder", "move_to", "enabled", "interval_seconds")
REQUIRED_FIELDS = ("name", "app_id", "host", "username", "password")
MAX_MAILBOXES = 20
MIN_INTERVAL_SECONDS = 10
MAX_INTERVAL_SECONDS = 86400
MAX_CA_FILE = 1024
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9.:-]{0,251}[a-z0-9])?$")
# imaplib sends LOGIN arguments as ASCII quoted strings (RFC 3501, section 4.3), so user
# names and passwords are printable ASCII.
_PRINTABLE_ASCII = re.compile(r"^[\x20-\x7e]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


async def list_mailboxes(session: AsyncSession, tenant_id: int) -> list[ImapMailbox]:
    return list((await session.exec(select(ImapMailbox).where(
        ImapMailbox.tenant_id == tenant_id).order_by(col(ImapMailbox.id)))).all())


async def access_mailbox(session: AsyncSession, tenant_id: int, mailbox_id: int) -> ImapMailbox:
    """Return the tenant's mailbox; another tenant's is NotFound like a missing one."""
    mailbox = await session.get(ImapMailbox, mailbox_id)
    if mailbox is None or mailbox.tenant_id != tenant_id:
        raise NotFound(f"IMAP mailbox {mailbox_id} not found.", field="mailbox_id")
    return mailbox


async def do_create_mailbox(session: AsyncSession, tenant_id: int, data: dict[str, Any], *,
                            app_ids: set[str]) -> ImapMailbox:
    """Create a mailbox from `data`; `app_ids` are the apps it may deliver to."""
    _reject_unknown(data)
    missing = [name for name in REQUIRED_FIELDS if data.get(name) in (None, "")]
    if missing:
        raise InvalidInput(f"The IMAP mailbox needs {', '.join(missing)}.", field=missing[0])
    count = len(await list_mailboxes(session, tenant_id))
    if count >= MAX_MAILBOXES:
        raise InvalidInput(f"The workspace has {count} IMAP mailboxes, the maximum; delete "
                           "one first.", field="name")
    security = check_mailbox_field("security", data.get("security", "tls"), app_ids=app_ids)
    mailbox = ImapMailbox(tenant_id=tenant_id, name="", app_id="", host="",
                          port=DEFAULT_PORTS[security], security=security, username="",
                          password="")
    for name, value in data.items():
        setattr(mailbox, name, check_mailbox_field(name, value, app_ids=app_ids))
    _check_ca_file_needs_tls(mailbox)
    session.add(mailbox)
    await session.flush()
    logger.info("Created IMAP mailbox %s (%s@%s:%s) for app %s in tenant %s", mailbox.id,
                mailbox.username, mailbox.host, mailbox.port, mailbox.app_id, tenant_id)
    return mailbox


async def do_update_mailbox(session: AsyncSession, tenant_id: int, mailbox_id: int,
                            data: dict[str, Any], *, app_ids: set[str]) -> ImapMailbox:
    """Change the fields in `data`; a missing `password` keeps the stored one. A change
    makes the mailbox due at once and clears its failure count."""
    _reject_unknown(data)
    mailbox = await access_mailbox(session, tenant_id, mailbox_id)
    for name, value in data.items():
        if name in REQUIRED_FIELDS and value in (None, ""):
            raise InvalidInput(f"The {name} of an IMAP mailbox cannot be empty.", field=name)
        setattr(mailbox, name, check_mailbox_field(name, value, app_ids=app_ids))
    _check_ca_file_needs_tls(mailbox)
    mailbox.failures = 0
    mailbox.next_poll_at = None
    mailbox.updated_at = utcnow()
    session.add(mailbox)
    await session.flush()
    logger.info("Updated IMAP mailbox %s of tenant %s: %s", mailbox_id, tenant_id,
                sorted(data))
    return mailbox


async def do_delete_mailbox(session: AsyncSession, tenant_id: int, mailbox_id: int) -> None:
    """Delete the mailbox and its UID records; the mail it stored stays."""
    mailbox = await access_mailbox(session, tenant_id, mailbox_id)
    await session.exec(delete(ImapSeen).where(
        col(ImapSeen.mailbox_id) == mailbox_id))
    await session.delete(mailbox)
    await session.flush()
    logger.info("Deleted IMAP mailbox %s of tenant %s", mailbox_id, tenant_id)


def check_mailbox_field(name: str, value: object, *, app_ids: set[str]) -> Any:
    """Return `value` checked for the field `name`, or raise InvalidInput naming it."""
    if name == "port":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise InvalidInput(f"Invalid port {value!r}: use a number from 1 to 65535.",
                               field=name)
        return value
    if name == "interval_seconds":
        if (isinstance(value, bool) or not isinstance(value, int)
                or not MIN_INTERVAL_SECONDS <= value <= MAX_INTERVAL_SECONDS):
            raise InvalidInput(f"Invalid interval_seconds {value!r}: use a number of seconds "
                               f"from {MIN_INTERVAL_SECONDS} to {MAX_INTERVAL_SECONDS}.",
                               field=name)
        return value
    if name == "enabled":
        if not isinstance(value, bool):
            raise InvalidInput(f"Invalid enabled {value!r}: use true or false.", field=name)
        return value
    if name == "security":
        try:
            return ImapSecurity(str(value))
        except ValueError:
            choices = ", ".join(member.value for member in ImapSecurity)
            raise InvalidInput(f"Invalid security {value!r}: choose one of {choices}.",
                               field=name) from None
    if name == "app_id":
        if value not in app_ids:
            raise InvalidInput(f"Invalid app_id {value!r}: choose an installed app that "
                               f"receives mail ({', '.join(sorted(app_ids)) or 'none'}).",
                               field=name)
        return value
    if name == "move_to" and value in (None, ""):
        return None
    if name == "ca_file":
        return check_ca_file(value)
    return _check_text(name, value)


def check_ca_file(value: object) -> str | None:
    """Return the CA file path when it names a readable PEM file with at least one
    certificate, or None for an empty value. Raise InvalidInput naming the problem."""
    if value in (None, ""):
        return None
    hint = ("Use the absolute path, on the portal's server, of a PEM file with the CA "
            "certificate that signed the IMAP server's certificate.")
    if not isinstance(value, str) or _CONTROL.search(value) or len(value) > MAX_CA_FILE:
        raise InvalidInput(f"Invalid ca_file {value!r}. {hint}", field="ca_file")
    path = Path(value.strip())
    if not path.is_absolute():
        raise InvalidInput(f"Invalid ca_file {value!r}: the path is not absolute. {hint}",
                           field="ca_file")
    if not path.is_file():
        raise InvalidInput(f"Invalid ca_file {value!r}: no such file. {hint}",
                           field="ca_file")
    try:
        context = tls_context(str(path))
    except (OSError, ssl.SSLError) as error:
        reason = error.strerror if isinstance(error, OSError) and not isinstance(
            error, ssl.SSLError) and error.strerror else str(error)
        raise InvalidInput(f"Invalid ca_file {value!r}: it could not be loaded as PEM "
                           f"certificates ({reason}). {hint}", field="ca_file") from None
    if not context.get_ca_certs() and not context.cert_store_stats()["x509"]:
        raise InvalidInput(f"Invalid ca_file {value!r}: it contains no certificate. {hint}",
                           field="ca_file")
    return str(path)


def _check_ca_file_needs_tls(mailbox: ImapMailbox) -> None:
    if mailbox.ca_file and mailbox.security is ImapSecurity.NONE:
        raise InvalidInput("A CA file needs TLS: set security to starttls or tls, or "
                           "clear ca_file.", field="ca_file")


def _check_text(name: str, value: object) -> str:
    limits = {"name": 100, "host": 253, "username": 254, "password": 512, "folder": 200,
              "move_to": 200}
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"Invalid {name}: use non-empty text.", field=name)
    text = value if name == "password" else value.strip()
    if len(text) > limits[name]:
        raise InvalidInput(f"The {name} is {len(text)} characters long; the maximum is "
                           f"{limits[name]}.", field=name)
    if name in ("username", "password") and not _PRINTABLE_ASCII.match(text):
        # The password itself is never part of a message.
        raise InvalidInput(f"The {name} may contain only printable ASCII characters, "
                           "because IMAP LOGIN sends it as an ASCII string.", field=name)
    if _CONTROL.search(text):
        raise InvalidInput(f"The {name} contains a line break or control character; "
                           "remove it.", field=name)
    if name == "host":
        text = text.lower()
        if not _HOST.match(text):
            raise InvalidInput(f"Invalid host {text!r}: use a host name such as "
                               "imap.example.com or an IP address.", field=name)
    return text


def _reject_unknown(data: dict[str, Any]) -> None:
    unknown = sorted(set(data) - set(MAILBOX_FIELDS))
    if unknown:
        raise InvalidInput(f"Unknown IMAP mailbox fields {unknown}; the fields are "
                           f"{list(MAILBOX_FIELDS)}.", field=unknown[0])


def mailbox_view(mailbox: ImapMailbox) -> dict[str, Any]:
    """Return the mailbox for the admin API: whether a password is set, never the
    password."""
    return {
        "id": mailbox.id, "name": mailbox.name, "app_id": mailbox.app_id,
        "host": mailbox.host, "port": mailbox.port, "security": mailbox.security.value,
        "ca_file": mailbox.ca_file,
        "username": mailbox.username, "password_set": bool(mailbox.password),
        "folder": mailbox.folder, "move_to": mailbox.move_to, "enabled": mailbox.enabled,
        "interval_seconds": mailbox.interval_seconds,
        "state": {
            "last_poll_at": _iso(mailbox.last_poll_at),
            "last_success_at": _iso(mailbox.last_success_at),
            "last_error": mailbox.last_error,
            "next_poll_at": _iso(mailbox.next_poll_at) if mailbox.enabled else None,
            "failures": mailbox.failures, "fetched_total": mailbox.fetched_total,
        },
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
