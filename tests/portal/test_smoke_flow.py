from __future__ import annotations

from tests.support import Factory, PortalServer, signed_in


def test_greeting_flow_smoke(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    admin = factory.user(tenant, "admin")
    factory.install(tenant, "hello")
    with signed_in(server, admin) as client:
        apps = client.get("/api/desktop/apps").json()["apps"]
        assert {app["id"] for app in apps} == {"system", "hello"}
        response = client.post("/apps/hello/api/greetings", json={"text": "<b>hi</b>"})
        assert response.status_code == 201, response.text
        listed = client.get("/apps/hello/api/greetings").json()["greetings"]
        assert listed[0]["text"] == "<b>hi</b>"
