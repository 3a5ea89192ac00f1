"""The admin JSON API for apps: list, install, uninstall and purge for the tenant."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from portal.registry.installations import APPS_CHANGED_TOPIC
from tests.support import CSRF_INPUT, Factory, PortalServer, UserInfo, signed_in

ADMIN_REQUESTS = [
    ("GET", "/api/admin/apps"),
    ("POST", "/api/admin/apps/hello/install"),
    ("POST", "/api/admin/apps/hello/uninstall"),
    ("POST", "/api/admin/apps/system/uninstall"),
]


def statuses(client: httpx.Client) -> dict[str, str]:
    response = client.get("/api/admin/apps")
    assert response.status_code == 200, response.text
    return {app["id"]: app["status"] for app in response.json()["apps"]}


def app_events(factory: Factory, user: UserInfo) -> list[dict[str, Any]]:
    rows = factory.execute(
        "SELECT payload FROM portal_event WHERE tenant_id = :tenant_id AND topic = :topic "
        "ORDER BY seq", tenant_id=user.tenant.id, topic=APPS_CHANGED_TOPIC)
    return [json.loads(payload) if isinstance(payload, str) else payload for (payload,) in rows]


def test_list_apps(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), "admin")

    with signed_in(server, admin) as client:
        response = client.get("/api/admin/apps")

    apps = {app["id"]: app for app in response.json()["apps"]}
    assert apps["system"]["builtin"] is True
    assert apps["system"]["status"] == "installed"
    assert apps["hello"]["builtin"] is False
    assert apps["hello"]["status"] == "available"
    assert apps["hello"]["version"] == "1.0.0"
    assert apps["hello"]["origin"] == "entry point 'hello' (miportal_hello)"
    assert apps["ticketcloud"]["status"] == "available"
    assert response.json()["broken"] == []


def test_install_uninstall_purge(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), "admin")

    with signed_in(server, admin) as client:
        installed = client.post("/api/admin/apps/hello/install")
        after_install = statuses(client)["hello"]
        uninstalled = client.post("/api/admin/apps/hello/uninstall")
        after_uninstall = statuses(client)["hello"]
        purged = client.post("/api/admin/apps/hello/uninstall", params={"purge": "true"})
        after_purge = statuses(client)["hello"]

    assert installed.json() == {"app": "hello", "status": "installed"}
    assert after_install == "installed"
    assert uninstalled.json() == {"app": "hello", "status": "uninstalled"}
    assert after_uninstall == "uninstalled"
    assert purged.json() == {"app": "hello", "status": "purged"}
    assert after_purge == "available"
    assert app_events(factory, admin) == [
        {"app": "hello", "change": "installed"},
        {"app": "hello", "change": "uninstalled"},
        {"app": "hello", "change": "purged"},
    ]


def test_install_twice_conflict(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), "admin")

    with signed_in(server, admin) as client:
        client.post("/api/admin/apps/hello/install")
        again = client.post("/api/admin/apps/hello/install")

    assert again.status_code == 409
    assert "already installed" in again.json()["error"]["message"]
    assert len(app_events(factory, admin)) == 1


def test_uninstall_twice_conflict(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), "admin")
    factory.install(admin.tenant, "hello")

    with signed_in(server, admin) as client:
        client.post("/api/admin/apps/hello/uninstall")
        again = client.post("/api/admin/apps/hello/uninstall")

    assert again.status_code == 409
    assert "pass purge" in again.json()["error"]["message"]


def test_uninstall_not_installed(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), "admin")

    with signed_in(server, admin) as client:
        response = client.post("/api/admin/apps/hello/uninstall", params={"purge": "true"})

    assert response.status_code == 404
    assert "'hello' is not installed" in response.json()["error"]["message"]


def test_uninstall_bad_purge_value(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), "admin")
    factory.install(admin.tenant, "hello")

    with signed_in(server, admin) as client:
        response = client.post("/api/admin/apps/hello/uninstall", params={"purge": "yes"})
        after = statuses(client)["hello"]

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "purge"
    assert after == "installed"


def test_builtin_cannot_be_removed(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), "admin")

    with signed_in(server, admin) as client:
        uninstall = client.post("/api/admin/apps/system/uninstall")
        purge = client.post("/api/admin/apps/system/uninstall", params={"purge": "true"})
        install = client.post("/api/admin/apps/system/install")
        page = client.get("/apps/system/")

    assert uninstall.status_code == 422
    assert "part of the portal" in uninstall.json()["error"]["message"]
    assert purge.status_code == 422
    assert install.status_code == 409
    assert page.status_code == 200


def test_install_unknown_app(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), "admin")

    with signed_in(server, admin) as client:
        install = client.post("/api/admin/apps/no_such_app/install")
        uninstall = client.post("/api/admin/apps/no_such_app/uninstall")

    assert install.status_code == 404
    assert "'no_such_app' not found" in install.json()["error"]["message"]
    assert uninstall.status_code == 404


def csrf_token_of(client: httpx.Client, user: UserInfo) -> str:
    if user.role == "customer":
        match = CSRF_INPUT.search(client.get("/").text)
        assert match, "the customer home page has no sign-out form"
        return match.group(1)
    return client.headers["X-CSRF-Token"]


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_admin_api_forbidden(server: PortalServer, factory: Factory, role: str) -> None:
    tenant = factory.tenant()
    user = factory.user(tenant, role)
    factory.install(tenant, "hello")

    with signed_in(server, user) as client:
        token = csrf_token_of(client, user)
        responses = [client.request(method, url, headers={"X-CSRF-Token": token})
                     for method, url in ADMIN_REQUESTS]

    assert [response.status_code for response in responses] == [403] * len(ADMIN_REQUESTS)
    assert {response.json()["error"]["code"] for response in responses} == {"forbidden"}
    assert factory.execute(
        "SELECT status FROM portal_app_installation WHERE tenant_id = :tenant_id",
        tenant_id=tenant.id) == [("installed",)]


def test_admin_api_signed_out(server: PortalServer) -> None:
    response = httpx.get(server.base_url + "/api/admin/apps")

    assert response.status_code == 401
