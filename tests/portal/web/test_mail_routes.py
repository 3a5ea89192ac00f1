"""The admin API for a workspace's mail settings: admins only, per workspace, and the
relay password is never returned."""

from __future__ import annotations

from portal.models import Role
from tests.support import Factory, PortalServer, signed_in

URL = "/api/admin/mail-settings"
RELAY = {"relay_host": "mail.example.com", "relay_port": 587, "relay_security": "starttls",
         "relay_username": "ada", "relay_password": "hunter2secret"}


def test_mail_settings_admin_round_trip(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), Role.ADMIN)
    with signed_in(server, admin) as client:
        before = client.get(URL)
        updated = client.put(URL, json={**RELAY, "from_address": "help@acme.example",
                                         "from_name": "Acme Help"})
        after = client.get(URL)

    assert before.status_code == 200
    assert before.json()["default_from_address"] == f"{admin.tenant.slug}@localhost"
    assert before.json()["relay_password_set"] is False
    assert updated.status_code == 200, updated.text
    assert after.json()["from_address"] == "help@acme.example"
    assert after.json()["relay_password_set"] is True
    assert after.json()["effective_relay"] == "smtp+starttls://ada@mail.example.com:587"
    assert "hunter2secret" not in updated.text
    assert "hunter2secret" not in after.text
    assert "hunter2secret" not in server.log()


def test_mail_settings_per_workspace(server: PortalServer, factory: Factory) -> None:
    first = factory.user(factory.tenant(), Role.ADMIN)
    second = factory.user(factory.tenant(), Role.ADMIN)
    with signed_in(server, first) as client:
        client.put(URL, json={"from_address": "first@acme.example"})
    with signed_in(server, second) as client:
        seen = client.get(URL).json()

    assert seen["from_address"] is None


def test_mail_settings_need_admin(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    for role in (Role.AGENT, Role.CUSTOMER):
        with signed_in(server, factory.user(tenant, role)) as client:
            read = client.get(URL)
            write = client.put(URL, json={"from_address": "x@acme.example"})

        assert read.status_code == 403
        assert write.status_code == 403


def test_mail_settings_invalid_named(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), Role.ADMIN)
    with signed_in(server, admin) as client:
        response = client.put(URL, json={"from_name": "Acme\r\nBcc: x@example.org"})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "from_name"


def test_mail_settings_signed_out(server: PortalServer) -> None:
    import httpx

    response = httpx.get(server.base_url + URL)

    assert response.status_code == 401
