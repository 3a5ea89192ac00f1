"""The desktop page, its boot data, the launcher list and the saved window layout."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import portal
from portal.desktop.layout import MAX_LAYOUT_BYTES, MAX_WINDOWS
from portal.web.desktop_routes import script_json
from tests.support import Factory, PortalServer, signed_in

BOOT_SCRIPT = re.compile(
    r'<script type="application/json" id="miportal-boot">(.*?)</script>', re.S)
HOSTILE_NAME = "</script><script>alert(1)</script>"


def window(window_id: str, **changes: Any) -> dict[str, Any]:
    return {"id": window_id, "app": "hello", "type": "main", "params": {"greeting": "7"},
            "title": "Hello", "x": 40, "y": 40, "width": 480, "height": 320,
            "state": "normal", **changes}


def valid_layout() -> dict[str, Any]:
    return {"version": 1, "windows": [window("w1"), window("w2", state="minimized")],
            "focused": "w2"}


def boot_data(page: httpx.Response) -> dict[str, Any]:
    matches = BOOT_SCRIPT.findall(page.text)
    assert len(matches) == 1, page.text
    data: dict[str, Any] = json.loads(matches[0])
    return data


def test_desktop_signed_out_redirects(server: PortalServer) -> None:
    response = httpx.get(server.base_url + "/")

    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_favicon_served_signed_out(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant(), "admin")
    legacy = httpx.get(server.base_url + "/favicon.ico", follow_redirects=True)
    login = httpx.get(server.base_url + "/login")
    with signed_in(server, user) as client:
        desktop = client.get("/")

    assert legacy.status_code == 200
    assert legacy.headers["content-type"].startswith("image/svg+xml")
    assert legacy.content.startswith(b"<svg")
    for page in (login, desktop):
        assert '<link rel="icon" href="/static/shell/favicon.svg"' in page.text


def test_desktop_boot_data(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant(), "admin", name="Ada Admin")

    with signed_in(server, user) as client:
        page = client.get("/")

    boot = boot_data(page)
    assert boot["user"] == {"id": user.id, "name": "Ada Admin", "email": user.email,
                            "role": "admin"}
    assert boot["tenant"]["id"] == user.tenant.id
    assert boot["tenant"]["slug"] == user.tenant.slug
    assert boot["ws_path"] == "/ws"
    assert boot["portal_version"] == portal.__version__
    assert boot["csrf_token"] == client.headers["X-CSRF-Token"]
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert page.headers["x-content-type-options"] == "nosniff"


def test_desktop_boot_escapes_script_end(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant(), name=HOSTILE_NAME)

    with signed_in(server, user) as client:
        page = client.get("/")

    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    assert page.text.count("</script>") == 2
    assert boot_data(page)["user"]["name"] == HOSTILE_NAME


def test_script_json_escapes_markup() -> None:
    encoded = script_json({"name": "</script><!-- & -->"})

    assert "<" not in encoded
    assert ">" not in encoded
    assert "&" not in encoded
    assert json.loads(encoded) == {"name": "</script><!-- & -->"}


def test_desktop_customer_home(server: PortalServer, factory: Factory) -> None:
    customer = factory.user(factory.tenant(), "customer", name=HOSTILE_NAME)

    with signed_in(server, customer) as client:
        page = client.get("/")

    assert page.status_code == 200
    assert BOOT_SCRIPT.search(page.text) is None
    assert "/static/shell/desktop.js" not in page.text
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'action="/logout"' in page.text
    assert "<script>alert(1)" not in page.text


def test_desktop_apps_lists_installed(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    admin = factory.user(tenant, "admin")
    agent = factory.user(tenant, "agent")
    factory.install(tenant, "hello")

    with signed_in(server, admin) as client:
        admin_apps = {app["id"]: app for app in client.get("/api/desktop/apps").json()["apps"]}
    with signed_in(server, agent) as client:
        agent_apps = {app["id"] for app in client.get("/api/desktop/apps").json()["apps"]}

    assert set(admin_apps) == {"system", "hello"}
    assert agent_apps == {"hello"}
    hello = admin_apps["hello"]
    assert hello["icon"] == "/apps/hello/static/icon.svg"
    assert hello["windows"][0]["url"] == "/apps/hello/"
    assert hello["windows"][0]["default_size"] == {"width": 420, "height": 300}
    assert hello["windows"][0]["min_size"] == {"width": 260, "height": 200}


def test_desktop_apps_signed_out(server: PortalServer) -> None:
    response = httpx.get(server.base_url + "/api/desktop/apps")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_layout_initially_null(server: PortalServer, factory: Factory) -> None:
    with signed_in(server, factory.user(factory.tenant())) as client:
        response = client.get("/api/desktop/layout")

    assert response.json() == {"layout": None}


def test_layout_round_trip(server: PortalServer, factory: Factory) -> None:
    layout = valid_layout()

    with signed_in(server, factory.user(factory.tenant())) as client:
        saved = client.put("/api/desktop/layout", json=layout)
        loaded = client.get("/api/desktop/layout")
        layout["windows"].reverse()
        layout["focused"] = None
        replaced = client.put("/api/desktop/layout", json=layout)
        reloaded = client.get("/api/desktop/layout")

    assert saved.status_code == 200, saved.text
    assert saved.json() == {"layout": valid_layout()}
    assert loaded.json() == {"layout": valid_layout()}
    assert replaced.status_code == 200
    assert reloaded.json() == {"layout": layout}


def test_layout_fills_optional_fields(server: PortalServer, factory: Factory) -> None:
    minimal = {"version": 1, "windows": [
        {key: value for key, value in window("w1").items() if key not in ("params", "title")}]}

    with signed_in(server, factory.user(factory.tenant())) as client:
        saved = client.put("/api/desktop/layout", json=minimal)

    assert saved.status_code == 200, saved.text
    stored = saved.json()["layout"]
    assert stored["focused"] is None
    assert stored["windows"][0]["params"] == {}
    assert stored["windows"][0]["title"] == ""


def test_layout_max_windows_accepted(server: PortalServer, factory: Factory) -> None:
    layout = {"version": 1, "windows": [window(f"w{index}") for index in range(MAX_WINDOWS)]}

    with signed_in(server, factory.user(factory.tenant())) as client:
        response = client.put("/api/desktop/layout", json=layout)

    assert response.status_code == 200, response.text


def layout_with(change: str) -> dict[str, Any]:
    layout = valid_layout()
    first = layout["windows"][0]
    if change == "version":
        layout["version"] = 2
    elif change == "width":
        first["width"] = 119
    elif change == "extra field":
        layout["theme"] = "dark"
    elif change == "extra window field":
        first["zIndex"] = 3
    elif change == "too many windows":
        layout["windows"] = [window(f"w{index}") for index in range(MAX_WINDOWS + 1)]
    elif change == "duplicate ids":
        layout["windows"][1]["id"] = "w1"
    elif change == "unknown focused":
        layout["focused"] = "w9"
    elif change == "params value":
        first["params"] = {"ticket": 42}
    elif change == "state":
        first["state"] = "hidden"
    elif change == "id pattern":
        first["id"] = "w 1"
    elif change == "float geometry":
        first["x"] = 40.5
    elif change == "missing field":
        del first["height"]
    return layout


INVALID_LAYOUTS = [
    ("version", "version"),
    ("width", "windows[0].width"),
    ("extra field", "theme"),
    ("extra window field", "windows[0].zIndex"),
    ("too many windows", "windows"),
    ("duplicate ids", "windows"),
    ("unknown focused", "focused"),
    ("params value", "windows[0].params.ticket"),
    ("state", "windows[0].state"),
    ("id pattern", "windows[0].id"),
    ("float geometry", "windows[0].x"),
    ("missing field", "windows[0].height"),
]


@pytest.fixture
def layout_client(server: PortalServer, factory: Factory) -> Iterator[httpx.Client]:
    """A signed-in client of a new user whose stored layout is `valid_layout()`."""
    with signed_in(server, factory.user(factory.tenant())) as client:
        assert client.put("/api/desktop/layout", json=valid_layout()).status_code == 200
        yield client


@pytest.mark.parametrize(("change", "field"), INVALID_LAYOUTS,
                         ids=[change for change, _ in INVALID_LAYOUTS])
def test_layout_invalid_rejected(layout_client: httpx.Client, change: str,
                                 field: str) -> None:
    bad = layout_with(change)
    assert bad != valid_layout()

    response = layout_client.put("/api/desktop/layout", json=bad)
    after = layout_client.get("/api/desktop/layout")

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_layout"
    assert error["field"] == field
    assert field in error["message"]
    assert after.json() == {"layout": valid_layout()}


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"", b"null", b"[]"],
                         ids=["broken", "not utf-8", "empty", "null", "array"])
def test_layout_not_an_object(layout_client: httpx.Client, body: bytes) -> None:
    response = layout_client.put("/api/desktop/layout", content=body,
                                 headers={"content-type": "application/json"})
    after = layout_client.get("/api/desktop/layout")

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_layout"
    assert after.json() == {"layout": valid_layout()}


def test_layout_too_large(layout_client: httpx.Client) -> None:
    layout = valid_layout()
    layout["windows"][0]["title"] = "x" * 200
    body = json.dumps(layout) + " " * MAX_LAYOUT_BYTES

    response = layout_client.put("/api/desktop/layout", content=body,
                                 headers={"content-type": "application/json"})
    after = layout_client.get("/api/desktop/layout")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_layout"
    assert str(MAX_LAYOUT_BYTES) in error["message"]
    assert after.json() == {"layout": valid_layout()}

