"""Tenant isolation: no endpoint that reads data shows one tenant's data to another."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import Factory, PortalServer, TenantInfo, signed_in, start_server, stop_server

FIXTURE_APPS = Path(__file__).resolve().parents[2] / "fixtures" / "apps"


def layout(title: str) -> dict[str, Any]:
    return {"version": 1, "focused": "w1", "windows": [
        {"id": "w1", "app": "hello", "type": "main", "params": {}, "title": title,
         "x": 0, "y": 0, "width": 300, "height": 200, "state": "normal"}]}


def test_desktop_apps_per_tenant(server: PortalServer, factory: Factory) -> None:
    with_hello = factory.tenant()
    without_hello = factory.tenant()
    factory.install(with_hello, "hello")

    with signed_in(server, factory.user(with_hello)) as client:
        installed = {app["id"] for app in client.get("/api/desktop/apps").json()["apps"]}
    with signed_in(server, factory.user(without_hello)) as client:
        other = {app["id"] for app in client.get("/api/desktop/apps").json()["apps"]}

    assert "hello" in installed
    assert "hello" not in other


def test_layout_per_user(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    owner = factory.user(tenant)
    colleague = factory.user(tenant)
    stranger = factory.user(factory.tenant())

    with signed_in(server, owner) as client:
        client.put("/api/desktop/layout", json=layout("owner's"))
    with signed_in(server, colleague) as client:
        colleague_sees = client.get("/api/desktop/layout").json()
        client.put("/api/desktop/layout", json=layout("colleague's"))
    with signed_in(server, stranger) as client:
        stranger_sees = client.get("/api/desktop/layout").json()
        client.put("/api/desktop/layout", json=layout("stranger's"))
    with signed_in(server, owner) as client:
        owner_sees = client.get("/api/desktop/layout").json()

    assert colleague_sees == {"layout": None}
    assert stranger_sees == {"layout": None}
    assert owner_sees == {"layout": layout("owner's")}


def test_admin_apps_per_tenant(server: PortalServer, factory: Factory) -> None:
    installed_tenant = factory.tenant()
    other_tenant = factory.tenant()
    factory.install(installed_tenant, "hello")

    with signed_in(server, factory.user(other_tenant, "admin")) as client:
        apps = {app["id"]: app["status"] for app in client.get("/api/admin/apps").json()["apps"]}
        uninstall = client.post("/api/admin/apps/hello/uninstall", params={"purge": "true"})

    assert apps["hello"] == "available"
    assert uninstall.status_code == 404
    assert factory.execute(
        "SELECT status FROM portal_app_installation WHERE tenant_id = :tenant_id",
        tenant_id=installed_tenant.id) == [("installed",)]


def test_greetings_per_tenant(server: PortalServer, factory: Factory) -> None:
    first = factory.tenant()
    second = factory.tenant()
    factory.install(first, "hello")
    factory.install(second, "hello")

    with signed_in(server, factory.user(first)) as client:
        client.post("/apps/hello/api/greetings", json={"text": "first tenant only"})
    with signed_in(server, factory.user(second)) as client:
        second_sees = client.get("/apps/hello/api/greetings").json()["greetings"]
        client.post("/apps/hello/api/greetings", json={"text": "second tenant only"})
    with signed_in(server, factory.user(first)) as client:
        first_sees = client.get("/apps/hello/api/greetings").json()["greetings"]

    assert second_sees == []
    assert [greeting["text"] for greeting in first_sees] == ["first tenant only"]


@pytest.fixture(scope="module")
def fixture_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    """A portal with the fixture apps, whose `fixture_good` app has a public route."""
    portal_server = start_server(tmp_path_factory.mktemp("isolation"),
                                 env={"MIPORTAL_APPS_DIR": str(FIXTURE_APPS)})
    yield portal_server
    stop_server(portal_server)


def install_good_app(server: PortalServer, factory: Factory, tenant: TenantInfo) -> None:
    with signed_in(server, factory.user(tenant, "admin")) as client:
        response = client.post("/api/admin/apps/fixture_good/install")
    assert response.status_code == 200, response.text


def public_whoami(slug: str) -> str:
    return f"/apps/fixture_good/public/{slug}/whoami"


def test_public_path_not_installed(fixture_server: PortalServer) -> None:
    factory = Factory(fixture_server)
    installed = factory.tenant()
    not_installed = factory.tenant()
    install_good_app(fixture_server, factory, installed)

    with httpx.Client(base_url=fixture_server.base_url) as client:
        served = client.get(public_whoami(installed.slug))
        hidden = client.get(public_whoami(not_installed.slug))
        unknown = client.get(public_whoami("no-such-workspace"))
        invalid = client.get(public_whoami("Not_A_Slug"))

    assert served.status_code == 200, served.text
    assert served.json() == {"tenant_id": installed.id, "user_id": None}
    assert hidden.status_code == 404
    assert unknown.status_code == 404
    assert invalid.status_code == 404


def test_public_path_other_tenant_drops_user(fixture_server: PortalServer) -> None:
    factory = Factory(fixture_server)
    home = factory.tenant()
    other = factory.tenant()
    install_good_app(fixture_server, factory, home)
    install_good_app(fixture_server, factory, other)
    user = factory.user(home)

    with signed_in(fixture_server, user) as client:
        own = client.get(public_whoami(home.slug))
        foreign = client.get(public_whoami(other.slug))
        signed_in_route = client.get("/apps/fixture_good/")

    assert own.json() == {"tenant_id": home.id, "user_id": user.id}
    assert foreign.status_code == 200, foreign.text
    assert foreign.json() == {"tenant_id": other.id, "user_id": None}
    assert signed_in_route.json() == {"tenant_id": home.id, "user_id": user.id}


def test_public_path_other_tenant_not_installed(fixture_server: PortalServer) -> None:
    factory = Factory(fixture_server)
    home = factory.tenant()
    other = factory.tenant()
    install_good_app(fixture_server, factory, home)
    user = factory.user(home)

    with signed_in(fixture_server, user) as client:
        response = client.get(public_whoami(other.slug))

    assert response.status_code == 404
