"""Server-side sessions: what the cookie unlocks and when it stops working."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from portal.auth.sessions import SESSION_COOKIE
from portal.auth.tokens import digest, new_secret
from tests.support import Factory, PortalServer, session_cookie, signed_in, stored_time

LONG_AGO = stored_time(datetime(2000, 1, 1, tzinfo=UTC))


def cookie_client(server: PortalServer, cookie: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, cookies={SESSION_COOKIE: cookie})


def assert_signed_out(client: httpx.Client) -> None:
    desktop = client.get("/", headers={"accept": "text/html"})
    apps = client.get("/api/desktop/apps")
    assert desktop.status_code == 303
    assert desktop.headers["location"] == "/login"
    assert apps.status_code == 401
    assert apps.json()["error"]["code"] == "not_authenticated"


def test_session_cookie_signs_in(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    with signed_in(server, user) as browser:
        cookie = session_cookie(browser)

    with cookie_client(server, cookie) as client:
        response = client.get("/api/desktop/apps")

    assert response.status_code == 200


def test_session_expired(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    with signed_in(server, user) as browser:
        cookie = session_cookie(browser)
    factory.execute("UPDATE portal_session SET expires_at = :past WHERE token_hash = :token_hash",
                    past=LONG_AGO, token_hash=digest(cookie))

    with cookie_client(server, cookie) as client:
        assert_signed_out(client)


def test_session_forged_cookie(server: PortalServer) -> None:
    with cookie_client(server, new_secret()) as client:
        assert_signed_out(client)


def test_session_cookie_is_its_digest(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    with signed_in(server, user) as browser:
        cookie = session_cookie(browser)

    with cookie_client(server, digest(cookie)) as client:
        assert_signed_out(client)


def test_session_oversized_cookie(server: PortalServer) -> None:
    with cookie_client(server, "a" * 4000) as client:
        assert_signed_out(client)


def test_session_beside_malformed_cookie(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    with signed_in(server, user) as browser:
        cookie = session_cookie(browser)

    response = httpx.get(server.base_url + "/api/desktop/apps", headers={
        "cookie": f'theme=dark mode; prefs={{"a": 1}}; {SESSION_COOKIE}={cookie}'})

    assert response.status_code == 200


def test_session_malformed_cookie_header(server: PortalServer) -> None:
    response = httpx.get(server.base_url + "/api/desktop/apps",
                         headers={"cookie": f'{SESSION_COOKIE}="unterminated; ;;=;'})

    assert response.status_code == 401


def test_session_user_disabled(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with signed_in(server, user) as browser:
        factory.execute("UPDATE portal_user SET is_active = false WHERE id = :user_id",
                        user_id=user.id)
        assert_signed_out(browser)

