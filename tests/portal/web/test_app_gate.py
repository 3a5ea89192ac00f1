"""Apps under /apps/<id>/: served only to tenants that installed them."""

from __future__ import annotations

import httpx

from tests.support import Factory, PortalServer, TenantInfo, UserInfo, signed_in

HELLO_URLS = ["/apps/hello/", "/apps/hello/api/greetings", "/apps/hello/static/icon.svg",
              "/apps/hello/static/hello.js"]


def statuses(server: PortalServer, user: UserInfo) -> dict[str, int]:
    with signed_in(server, user) as client:
        return {url: client.get(url).status_code for url in HELLO_URLS}


def greeting_texts(client: httpx.Client) -> list[str]:
    response = client.get("/apps/hello/api/greetings")
    assert response.status_code == 200, response.text
    return [greeting["text"] for greeting in response.json()["greetings"]]


def greeting_count(factory: Factory, tenant: TenantInfo) -> int:
    ((count,),) = factory.execute(
        "SELECT count(*) FROM hello_greeting WHERE tenant_id = :tenant_id",
        tenant_id=tenant.id)
    return int(count)


def test_gate_not_installed_404(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with signed_in(server, user) as client:
        page = client.get("/apps/hello/", headers={"accept": "text/html"})
        api = client.get("/apps/hello/api/greetings")
        post = client.post("/apps/hello/api/greetings", json={"text": "hi"})
        static = client.get("/apps/hello/static/icon.svg")
        apps = client.get("/api/desktop/apps").json()["apps"]

    assert page.status_code == 404
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"
    assert post.status_code == 404
    assert static.status_code == 404
    assert "svg" not in static.headers.get("content-type", "")
    assert "hello" not in {app["id"] for app in apps}


def test_gate_installed_serves(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    user = factory.user(tenant)
    factory.install(tenant, "hello")

    with signed_in(server, user) as client:
        static = client.get("/apps/hello/static/icon.svg")
        apps = client.get("/api/desktop/apps").json()["apps"]

    assert statuses(server, user) == dict.fromkeys(HELLO_URLS, 200)
    assert static.headers["content-type"].startswith("image/svg+xml")
    assert static.headers["x-content-type-options"] == "nosniff"
    assert "hello" in {app["id"] for app in apps}


def test_gate_unknown_app(server: PortalServer, factory: Factory) -> None:
    with signed_in(server, factory.user(factory.tenant())) as client:
        response = client.get("/apps/no_such_app/")

    assert response.status_code == 404


def test_gate_signed_out_page_redirects(server: PortalServer) -> None:
    response = httpx.get(server.base_url + "/apps/hello/?greeting=7&x=%2F",
                         headers={"accept": "text/html"})
    login = httpx.get(server.base_url + response.headers["location"])

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/apps/hello/%3Fgreeting%3D7%26x%3D%252F"
    assert 'name="next" value="/apps/hello/?greeting=7&amp;x=%2F"' in login.text


def test_gate_signed_out_api_401(server: PortalServer) -> None:
    routes = [httpx.get(server.base_url + url) for url in HELLO_URLS[:2]]

    assert [response.status_code for response in routes] == [401, 401]
    assert routes[1].json()["error"]["code"] == "not_authenticated"


def test_gate_signed_out_static_served(server: PortalServer) -> None:
    """Public pages need an app's styles and scripts before anyone signs in."""
    responses = [httpx.get(server.base_url + url) for url in HELLO_URLS[2:]]

    assert [response.status_code for response in responses] == [200, 200]
    assert responses[0].headers["x-content-type-options"] == "nosniff"


def test_gate_uninstall_keeps_data(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    admin = factory.user(tenant, "admin")
    factory.install(tenant, "hello")

    with signed_in(server, admin) as client:
        client.post("/apps/hello/api/greetings", json={"text": "<b>kept</b>"})
        uninstalled = client.post("/api/admin/apps/hello/uninstall")
        hidden = client.get("/apps/hello/api/greetings")
        reinstalled = client.post("/api/admin/apps/hello/install")
        texts = greeting_texts(client)

    assert uninstalled.status_code == 200, uninstalled.text
    assert hidden.status_code == 404
    assert reinstalled.status_code == 200, reinstalled.text
    assert texts == ["<b>kept</b>"]


def test_gate_purge_only_own_tenant(server: PortalServer, factory: Factory) -> None:
    purged_tenant = factory.tenant()
    kept_tenant = factory.tenant()
    admin = factory.user(purged_tenant, "admin")
    neighbour = factory.user(kept_tenant, "admin")
    factory.install(purged_tenant, "hello")
    factory.install(kept_tenant, "hello")

    with signed_in(server, neighbour) as client:
        client.post("/apps/hello/api/greetings", json={"text": "neighbour's"})
    with signed_in(server, admin) as client:
        client.post("/apps/hello/api/greetings", json={"text": "to be purged"})
        purged = client.post("/api/admin/apps/hello/uninstall", params={"purge": "true"})
        client.post("/api/admin/apps/hello/install")
        texts_after = greeting_texts(client)
    with signed_in(server, neighbour) as client:
        neighbour_texts = greeting_texts(client)

    assert purged.json() == {"app": "hello", "status": "purged"}
    assert texts_after == []
    assert greeting_count(factory, purged_tenant) == 0
    assert neighbour_texts == ["neighbour's"]
    assert greeting_count(factory, kept_tenant) == 1


def test_gate_builtin_system_app(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    admin = factory.user(tenant, "admin")
    agent = factory.user(tenant, "agent")

    with signed_in(server, admin) as client:
        admin_page = client.get("/apps/system/")
        icon = client.get("/apps/system/static/apps.svg")
    with signed_in(server, agent) as client:
        agent_page = client.get("/apps/system/")

    assert admin_page.status_code == 200
    assert icon.status_code == 200
    assert agent_page.status_code == 403
