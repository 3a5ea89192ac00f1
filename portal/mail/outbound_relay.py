"""SMTP relays: the portal-wide default from `--smtp-relay`, and each tenant's own mail
settings (sender and relay) in `portal_mail_settings`.

A relay password is stored so the delivery worker can sign in, and it is never returned
by `settings_view`, written to a log, or shown in a `RelayConfig`'s repr.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import UTCDateTime, utcnow
from portal.errors import InvalidInput
from portal.mail.compose import MAX_NAME, check_address, check_header_text

logger = logging.getLogger(__name__)


class RelaySecurity(enum.StrEnum):
    """How the connection to a relay is protected."""

    NONE = "none"  # plain SMTP, for a relay on the same host or network
    STARTTLS = "starttls"  # upgraded with STARTTLS, usually on port 587
    TLS = "tls"  # TLS from the first byte (SMTPS), usually on port 465


_SCHEMES = {"smtp": RelaySecurity.NONE, "smtp+starttls": RelaySecurity.STARTTLS,
            "smtps": RelaySecurity.TLS}
_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9.:-]{0,251}[a-z0-9])?$")
_DEFAULT_PORTS = {RelaySecurity.NONE: 25, RelaySecurity.STARTTLS: 587, RelaySecurity.TLS: 465}


@dataclass(frozen=True)
class RelayConfig:
    """Where and how to hand mail over for delivery."""

    host: str
    port: int
    security: RelaySecurity = RelaySecurity.NONE
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """Return the relay for logs and the admin API: scheme, user, host and port, never
        the password."""
        scheme = next(name for name, value in _SCHEMES.items() if value is self.security)
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_relay_url(url: str) -> RelayConfig | None:
    """Return the relay of a URL such as `smtp://host:25`, `smtp+starttls://user:pass@host:587`
    or `smtps://host:465`, or None for an empty string. Raises InvalidInput otherwise."""
    url = url.strip()
    if not url:
        return None
    parts = urlsplit(url)
    security = _SCHEMES.get(parts.scheme.lower())
    if security is None:
        raise InvalidInput(f"Invalid SMTP relay URL scheme {parts.scheme!r}: use smtp://, "
                           "smtp+starttls:// or smtps://.", field="smtp_relay")
    try:
        port = parts.port or _DEFAULT_PORTS[security]
    except ValueError:
        raise InvalidInput("Invalid port in the SMTP relay URL: use a number from 1 to 65535.",
                           field="smtp_relay") from None
    if not parts.hostname:
        raise InvalidInput("The SMTP relay URL has no host: use smtp://host:port.",
                           field="smtp_relay")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidInput("The SMTP relay URL has a path or query; use only "
                           "scheme://user:password@host:port.", field="smtp_relay")
    return RelayConfig(host=parts.hostname, port=port, security=security,
                       username=unquote(parts.username) if parts.username else None,
                       password=unquote(parts.password) if parts.password else None)


class MailSettings(SQLModel, table=True):
    """A tenant's sender and, optionally, its own relay instead of the portal's."""

    __tablename__ = "portal_mail_settings"

    tenant_id: int = Field(foreign_key="portal_tenant.id", primary_key=True)
    from_address: str | None = Field(default=None, max_length=254)
    from_name: str | None = Field(default=None, max_length=MAX_NAME)
    relay_host: str | None = Field(default=None, max_length=253)
    relay_port: int | None = None
    relay_security: str = Field(default=RelaySecurity.NONE.value,
                                sa_column=Column(String(16), nullable=False))
    relay_username: str | None = Field(default=None, max_length=254)
    relay_password: str | None = Field(default=None, max_length=512)
    updated_at: datetime = Field(default_factory=utcnow,
                                 sa_column=Column(UTCDateTime(), nullable=False))

    def relay(self) -> RelayConfig | None:
        if not self.relay_host:
            return None
        security = RelaySecurity(self.relay_security)
        return RelayConfig(host=self.relay_host,
                           port=self.relay_port or _DEFAULT_PORTS[security],
                           security=security, username=self.relay_username,
                           password=self.relay_password)


SETTINGS_FIELDS = ("from_address", "from_name", "relay_host", "relay_port", "relay_security",
                   "relay_username", "relay_password")


_SETTINGS_KEY = "miportal.mail_settings"


async def load_mail_settings(session: AsyncSession, tenant_id: int) -> MailSettings:
    """Return the tenant's mail settings; a tenant without a row gets empty ones.

    The result is cached for the rest of the session, so one transaction that stages
    several messages reads the settings once. A change through `do_update_mail_settings`
    in the same session updates the cached row itself."""
    cached: dict[int, MailSettings] = session.info.setdefault(_SETTINGS_KEY, {})
    settings = cached.get(tenant_id)
    if settings is None:
        settings = (await session.get(MailSettings, tenant_id)
                    or MailSettings(tenant_id=tenant_id))
        cached[tenant_id] = settings
    return settings


async def do_update_mail_settings(session: AsyncSession, tenant_id: int,
                                  changes: dict[str, Any]) -> MailSettings:
    """Apply `changes` (any of SETTINGS_FIELDS; None or "" clears a field) and return the
    settings. Setting `relay_host` to empty clears the whole relay, so the portal's
    default applies again."""
    unknown = sorted(set(changes) - set(SETTINGS_FIELDS))
    if unknown:
        raise InvalidInput(f"Unknown mail settings {unknown}; the settings are "
                           f"{list(SETTINGS_FIELDS)}.", field=unknown[0])
    settings = await load_mail_settings(session, tenant_id)
    for name, value in changes.items():
        setattr(settings, name, _check_setting(name, value))
    if not settings.relay_host:
        settings.relay_port = settings.relay_username = settings.relay_password = None
        settings.relay_security = RelaySecurity.NONE.value
    settings.updated_at = utcnow()
    session.add(settings)
    await session.flush()
    relay = settings.relay()
    logger.info("Updated mail settings of tenant %s: from %s, relay %s", tenant_id,
                settings.from_address or "(default)",
                relay.describe() if relay else "(portal default)")
    return settings


def _check_setting(name: str, value: object) -> Any:
    if value is None or value == "":
        return RelaySecurity.NONE.value if name == "relay_security" else None
    if name == "from_address":
        return check_address(value, field=name).lower()
    if name == "relay_port":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            raise InvalidInput(f"Invalid relay_port {value!r}: use a number from 1 to 65535.",
                               field=name)
        return value
    if name == "relay_security":
        try:
            return RelaySecurity(str(value)).value
        except ValueError:
            choices = ", ".join(member.value for member in RelaySecurity)
            raise InvalidInput(f"Invalid relay_security {value!r}: choose one of {choices}.",
                               field=name) from None
    if name == "relay_host":
        host = check_header_text(value, field=name, max_length=253).lower()
        if not _HOST.match(host):
            raise InvalidInput(f"Invalid relay_host {host!r}: use a host name such as "
                               "smtp.example.com or an IP address.", field=name)
        return host
    return check_header_text(value, field=name, max_length=512 if "password" in name else 254)


def settings_view(settings: MailSettings, *, default_relay: RelayConfig | None,
                  default_from: str) -> dict[str, Any]:
    """Return the settings for the admin API: never the password, only whether one is set."""
    relay = settings.relay()
    effective = relay or default_relay
    return {
        "from_address": settings.from_address, "from_name": settings.from_name,
        "default_from_address": default_from,
        "relay_host": settings.relay_host, "relay_port": settings.relay_port,
        "relay_security": settings.relay_security, "relay_username": settings.relay_username,
        "relay_password_set": bool(settings.relay_password),
        "effective_relay": effective.describe() if effective else None,
        "uses_portal_relay": relay is None and default_relay is not None,
    }
