"""The Mail settings API of the system app: admins only, their own workspace only, IMAP
passwords write-only, and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from portal.models import Role
from tests.support import Factory, PortalServer, TenantInfo, UserInfo, signed_in

MAILBOXES = "/apps/system/api/mail/mailboxes"
PASSWORD = "write-only-secret-42"


def fields(**changes: Any) -> dict[str, Any]:
    # Port 9 on loopback (discard) has no IMAP server; nothing here connects.
    data: dict[str, Any] = {"name": "Support", "app_id": "ticketcloud", "host": "127.0.0.1",
                            "port": 9, "security": "none", "username": "support",
                            "password": PASSWORD}
    data.update(changes)
    return data


def admin_of_new_tenant(factory: Factory) -> tuple[TenantInfo, UserInfo]:
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    return tenant, factory.user(tenant, Role.ADMIN)


def test_mailbox_create_hides_password(server: PortalServer, factory: Factory) -> None:
    _tenant, admin = admin_of_new_tenant(factory)
    with signed_in(server, admin) as client:
        created = client.post(MAILBOXES, json=fields())
        listing = client.get(MAILBOXES)

    assert created.status_code == 201, created.text
    assert created.json()["password_set"] is True
    assert created.json()["state"]["failures"] == 0
    assert PASSWORD not in created.text
    assert PASSWORD not in listing.text
    assert [item["name"] for item in listing.json()["items"]] == ["Support"]
    assert PASSWORD not in server.log()


def test_mailbox_update_keeps_password(server: PortalServer, factory: Factory) -> None:
    tenant, admin = admin_of_new_tenant(factory)
    with signed_in(server, admin) as client:
        created = client.post(MAILBOXES, json=fields()).json()
        changed = client.patch(f"{MAILBOXES}/{created['id']}",
                               json={"enabled": False, "folder": "Support"})

    stored = factory.execute("SELECT password, enabled, folder FROM portal_mail_imap_mailbox "
                             "WHERE tenant_id = :tenant", tenant=tenant.id)
    assert changed.status_code == 200, changed.text
    assert stored == [(PASSWORD, 0, "Support")]
    assert changed.json()["state"]["next_poll_at"] is None


@pytest.mark.parametrize(("change", "field"), [
    ({"port": 70000}, "port"),
    ({"security": "ssl3"}, "security"),
    ({"app_id": "system"}, "app_id"),
    ({"host": "imap example.com"}, "host"),
    ({"folder": "INBOX\r\nA1 LOGOUT"}, "folder"),
    ({"password": "pässword"}, "password"),
    ({"interval_seconds": 1}, "interval_seconds"),
    ({"colour": "red"}, "colour"),
])
def test_mailbox_invalid_field_named(server: PortalServer, factory: Factory,
                                     change: dict[str, Any], field: str) -> None:
    _tenant, admin = admin_of_new_tenant(factory)
    with signed_in(server, admin) as client:
        response = client.post(MAILBOXES, json=fields(**change))

    assert response.status_code == 422
    assert response.json()["error"]["field"] == field
    assert "pässword" not in response.text


def test_mailbox_missing_field_named(server: PortalServer, factory: Factory) -> None:
    _tenant, admin = admin_of_new_tenant(factory)
    data = fields()
    del data["host"]
    with signed_in(server, admin) as client:
        response = client.post(MAILBOXES, json=data)

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "host"


@pytest.mark.parametrize("role", [Role.AGENT, Role.CUSTOMER])
def test_mail_settings_need_admin(server: PortalServer, factory: Factory, role: Role) -> None:
    tenant, admin = admin_of_new_tenant(factory)
    with signed_in(server, admin) as client:
        mailbox_id = client.post(MAILBOXES, json=fields()).json()["id"]
    user = factory.user(tenant, role)
    with signed_in(server, user) as client:
        responses = [client.get(MAILBOXES), client.post(MAILBOXES, json=fields()),
                     client.patch(f"{MAILBOXES}/{mailbox_id}", json={"enabled": False}),
                     client.delete(f"{MAILBOXES}/{mailbox_id}"),
                     client.post(f"{MAILBOXES}/{mailbox_id}/poll"),
                     client.get("/apps/system/api/mail/addresses"),
                     client.get("/apps/system/mail-settings")]

    assert [response.status_code for response in responses] == [403] * len(responses)


def test_mailbox_other_tenant_not_found(server: PortalServer, factory: Factory) -> None:
    _tenant, admin = admin_of_new_tenant(factory)
    _other, other_admin = admin_of_new_tenant(factory)
    with signed_in(server, admin) as client:
        mailbox_id = client.post(MAILBOXES, json=fields()).json()["id"]
    with signed_in(server, other_admin) as client:
        listing = client.get(MAILBOXES)
        responses = [client.patch(f"{MAILBOXES}/{mailbox_id}", json={"enabled": False}),
                     client.delete(f"{MAILBOXES}/{mailbox_id}"),
                     client.post(f"{MAILBOXES}/{mailbox_id}/check"),
                     client.post(f"{MAILBOXES}/{mailbox_id}/poll")]

    assert listing.json()["items"] == []
    assert [response.status_code for response in responses] == [404] * len(responses)


def test_mailbox_delete(server: PortalServer, factory: Factory) -> None:
    _tenant, admin = admin_of_new_tenant(factory)
    with signed_in(server, admin) as client:
        mailbox_id = client.post(MAILBOXES, json=fields()).json()["id"]
        deleted = client.delete(f"{MAILBOXES}/{mailbox_id}")
        listing = client.get(MAILBOXES)

    assert deleted.status_code == 204
    assert listing.json()["items"] == []


def test_addresses_list_routes_and_apps(server: PortalServer, factory: Factory) -> None:
    tenant, admin = admin_of_new_tenant(factory)
    address = f"help@{tenant.slug}.localhost"
    with signed_in(server, admin) as client:
        client.put("/apps/ticketcloud/api/v1/settings/mail", json={"support_address": address})
        response = client.get("/apps/system/api/mail/addresses")

    assert response.json()["items"] == [{"address": address, "app_id": "ticketcloud"}]
    assert response.json()["mail_apps"] == [{"id": "ticketcloud", "name": "TicketCloud"}]
