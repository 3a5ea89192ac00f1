"""Relay URLs and the per-tenant mail settings."""

from __future__ import annotations

import pytest

from portal.db import Database
from portal.errors import InvalidInput
from portal.mail.outbound_relay import (
    RelayConfig,
    RelaySecurity,
    do_update_mail_settings,
    parse_relay_url,
    settings_view,
)


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://mail.example.com", RelayConfig("mail.example.com", 25)),
    ("smtp://127.0.0.1:2525", RelayConfig("127.0.0.1", 2525)),
    ("smtp+starttls://ada:s%40cret@mail.example.com:587",
     RelayConfig("mail.example.com", 587, RelaySecurity.STARTTLS, "ada", "s@cret")),
    ("smtps://mail.example.com", RelayConfig("mail.example.com", 465, RelaySecurity.TLS)),
])
def test_parse_relay_url(url: str, expected: RelayConfig) -> None:
    assert parse_relay_url(url) == expected


def test_parse_relay_url_empty() -> None:
    assert parse_relay_url("  ") is None


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://host:99999",
                                 "smtp://host/path", "mail.example.com"])
def test_parse_relay_url_invalid(url: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_relay_url(url)

    assert raised.value.field == "smtp_relay"


def test_relay_password_not_in_repr_or_description() -> None:
    relay = parse_relay_url("smtp+starttls://ada:hunter2secret@mail.example.com:587")

    assert relay is not None
    assert "hunter2secret" not in repr(relay)
    assert relay.describe() == "smtp+starttls://ada@mail.example.com:587"


async def test_settings_view_hides_password(db: Database, tenant_id: int) -> None:
    async with db.transaction() as session:
        settings = await do_update_mail_settings(session, tenant_id, {
            "relay_host": "mail.example.com", "relay_port": 587,
            "relay_security": "starttls", "relay_username": "ada",
            "relay_password": "hunter2secret"})

    view = settings_view(settings, default_relay=None, default_from="acme@localhost")

    assert "hunter2secret" not in repr(view)
    assert view["relay_password_set"] is True
    assert view["effective_relay"] == "smtp+starttls://ada@mail.example.com:587"


async def test_clearing_relay_host_clears_relay(db: Database, tenant_id: int) -> None:
    async with db.transaction() as session:
        await do_update_mail_settings(session, tenant_id, {
            "relay_host": "mail.example.com", "relay_username": "ada",
            "relay_password": "hunter2secret"})
        settings = await do_update_mail_settings(session, tenant_id, {"relay_host": ""})

    assert settings.relay() is None
    assert settings.relay_password is None
    assert settings.relay_username is None


@pytest.mark.parametrize(("changes", "field"), [
    ({"from_address": "help@acme.example\r\nBcc: x@example.org"}, "from_address"),
    ({"from_name": "Acme\nBcc: x@example.org"}, "from_name"),
    ({"relay_port": 0}, "relay_port"),
    ({"relay_security": "ssl"}, "relay_security"),
    ({"relay_host": "mail example"}, "relay_host"),
    ({"password": "x"}, "password"),
])
async def test_update_mail_settings_invalid(db: Database, tenant_id: int,
                                            changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        async with db.transaction() as session:
            await do_update_mail_settings(session, tenant_id, changes)

    assert raised.value.field == field
