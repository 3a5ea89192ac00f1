"""CSRF protection: every unsafe request a browser's cookies authorize needs the token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from portal.auth.signin import ACCOUNT_FAILURES, account_key
from portal.auth.tokens import new_secret
from portal.mail.compose import derive_key
from portal.rate_limits import stored_key
from portal.settings import load_or_create_secret_key
from tests.support import CSRF_INPUT, Factory, PortalServer, UserInfo, signed_in

LAYOUT: dict[str, Any] = {
    "version": 1,
    "windows": [{"id": "w1", "app": "hello", "type": "main", "params": {}, "title": "Hello",
                 "x": 10, "y": 20, "width": 400, "height": 300, "state": "normal"}],
    "focused": "w1",
}


@contextmanager
def without_token(server: PortalServer, user: UserInfo) -> Iterator[tuple[httpx.Client, str]]:
    """Yield a signed-in client that sends no CSRF header by itself, and its token."""
    with signed_in(server, user) as client:
        token = client.headers.pop("X-CSRF-Token")
        yield client, token


def bad_token_headers(server: PortalServer, factory: Factory,
                      user: UserInfo) -> dict[str, dict[str, str]]:
    """Headers that must fail the check: none, a random token, another session's token."""
    with signed_in(server, factory.user(user.tenant, user.role)) as other:
        other_token = other.headers["X-CSRF-Token"]
    return {"missing": {}, "random": {"X-CSRF-Token": new_secret()},
            "other session": {"X-CSRF-Token": other_token}}


def assert_csrf_failed(responses: dict[str, httpx.Response]) -> None:
    for label, response in responses.items():
        assert response.status_code == 403, f"{label}: {response.status_code} {response.text}"
        assert response.json()["error"]["code"] == "csrf_failed", label


def installation_status(factory: Factory, user: UserInfo, app_id: str) -> list[tuple[Any, ...]]:
    return factory.execute(
        "SELECT status FROM portal_app_installation WHERE tenant_id = :tenant_id "
        "AND app_id = :app_id", tenant_id=user.tenant.id, app_id=app_id)


def login_form(client: httpx.Client, user: UserInfo) -> dict[str, str]:
    page = client.get("/login")
    match = CSRF_INPUT.search(page.text)
    assert match
    return {"csrf_token": match.group(1), "workspace": user.tenant.slug, "email": user.email,
            "password": user.password, "next": "/"}


def test_login_without_token(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with httpx.Client(base_url=server.base_url) as client:
        form = login_form(client, user)
        missing = client.post("/login", data={**form, "csrf_token": ""})
        random = client.post("/login", data={**form, "csrf_token": new_secret()})
        signed_in_after = client.get("/api/desktop/apps")

    assert_csrf_failed({"missing": missing, "random": random})
    assert "miportal_session" not in missing.headers.get("set-cookie", "")
    assert signed_in_after.status_code == 401
    assert factory.execute("SELECT count(*) FROM portal_session WHERE user_id = :user_id",
                           user_id=user.id) == [(0,)]
    limit_key = derive_key(load_or_create_secret_key(server.data_dir), "rate-limit")
    assert factory.execute(
        "SELECT count(*) FROM portal_rate_limit WHERE key = :key",
        key=stored_key(limit_key, ACCOUNT_FAILURES,
                       account_key(user.tenant.slug, user.email))) == [(0,)]


def test_login_token_without_cookie(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with httpx.Client(base_url=server.base_url) as client:
        form = login_form(client, user)
        client.cookies.clear()
        response = client.post("/login", data=form)

    assert_csrf_failed({"no cookie": response})


def test_login_form_field(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with httpx.Client(base_url=server.base_url) as client:
        response = client.post("/login", data=login_form(client, user))

    assert response.status_code == 303


def test_logout_without_token(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    bad = bad_token_headers(server, factory, user)

    with without_token(server, user) as (client, _token):
        responses = {label: client.post("/logout", headers=headers)
                     for label, headers in bad.items()}
        still_signed_in = client.get("/api/desktop/apps")

    assert_csrf_failed(responses)
    assert still_signed_in.status_code == 200


def test_logout_form_field(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with without_token(server, user) as (client, token):
        response = client.post("/logout", data={"csrf_token": token})
        after = client.get("/api/desktop/apps")

    assert response.status_code == 303
    assert after.status_code == 401


def test_logout_wrong_form_field(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with without_token(server, user) as (client, _token):
        response = client.post("/logout", data={"csrf_token": new_secret()})
        after = client.get("/api/desktop/apps")

    assert_csrf_failed({"wrong field": response})
    assert after.status_code == 200


def test_logout_multipart_token_in_query(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with without_token(server, user) as (client, token):
        in_body = client.post("/logout", files={"note": ("a.txt", b"x")},
                              data={"csrf_token": token})
        in_query = client.post("/logout", params={"csrf_token": token},
                               files={"note": ("a.txt", b"x")})

    assert_csrf_failed({"multipart body": in_body})
    assert in_query.status_code == 303


def test_layout_put_without_token(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    bad = bad_token_headers(server, factory, user)
    changed = {**LAYOUT, "focused": None}

    with without_token(server, user) as (client, token):
        stored = client.put("/api/desktop/layout", json=LAYOUT, headers={"X-CSRF-Token": token})
        responses = {label: client.put("/api/desktop/layout", json=changed, headers=headers)
                     for label, headers in bad.items()}
        after = client.get("/api/desktop/layout")

    assert stored.status_code == 200, stored.text
    assert_csrf_failed(responses)
    assert after.json() == {"layout": LAYOUT}


def test_admin_install_without_token(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), "admin")
    bad = bad_token_headers(server, factory, admin)

    with without_token(server, admin) as (client, _token):
        responses = {label: client.post("/api/admin/apps/hello/install", headers=headers)
                     for label, headers in bad.items()}

    assert_csrf_failed(responses)
    assert installation_status(factory, admin, "hello") == []


def test_admin_uninstall_without_token(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), "admin")
    factory.install(admin.tenant, "hello")
    bad = bad_token_headers(server, factory, admin)

    with without_token(server, admin) as (client, _token):
        responses = {label: client.post("/api/admin/apps/hello/uninstall",
                                         params={"purge": "true"}, headers=headers)
                     for label, headers in bad.items()}

    assert_csrf_failed(responses)
    assert installation_status(factory, admin, "hello") == [("installed",)]


def test_app_route_without_token(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    factory.install(user.tenant, "hello")
    bad = bad_token_headers(server, factory, user)

    with without_token(server, user) as (client, token):
        responses = {label: client.post("/apps/hello/api/greetings", json={"text": "forged"},
                                         headers=headers)
                     for label, headers in bad.items()}
        accepted = client.post("/apps/hello/api/greetings", json={"text": "real"},
                               headers={"X-CSRF-Token": token})

    assert_csrf_failed(responses)
    assert accepted.status_code == 201
    assert factory.execute("SELECT text FROM hello_greeting WHERE tenant_id = :tenant_id",
                           tenant_id=user.tenant.id) == [("real",)]


def test_bearer_requests_exempt(server: PortalServer, factory: Factory) -> None:
    admin = factory.user(factory.tenant(), "admin")
    token = factory.api_token(admin)

    with httpx.Client(base_url=server.base_url,
                      headers={"authorization": f"Bearer {token}"}) as client:
        installed = client.post("/api/admin/apps/hello/install")
        greeted = client.post("/apps/hello/api/greetings", json={"text": "scripted"})
        layout = client.put("/api/desktop/layout", json=LAYOUT)
        uninstalled = client.post("/api/admin/apps/hello/uninstall")

    assert installed.status_code == 200, installed.text
    assert greeted.status_code == 201, greeted.text
    assert layout.status_code == 200, layout.text
    assert uninstalled.status_code == 200, uninstalled.text


def test_bearer_header_ignores_cookie(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    factory.install(user.tenant, "hello")

    with without_token(server, user) as (client, _token):
        response = client.post("/apps/hello/api/greetings", json={"text": "no token"},
                               headers={"authorization": f"Bearer mpt_{new_secret()}"})

    assert response.status_code == 401
    assert factory.execute("SELECT count(*) FROM hello_greeting WHERE tenant_id = :tenant_id",
                           tenant_id=user.tenant.id) == [(0,)]


def test_safe_methods_need_no_token(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with without_token(server, user) as (client, _token):
        responses = [client.get("/api/desktop/apps"), client.head("/api/desktop/layout"),
                     client.options("/api/desktop/layout")]

    assert [response.status_code != 403 for response in responses] == [True, True, True]
