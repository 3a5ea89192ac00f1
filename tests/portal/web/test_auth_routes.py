"""Sign-in and sign-out through the real form: cookies, errors, throttling, redirects."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from portal.auth.signin import INVALID_CREDENTIALS, MAX_FAILURES_PER_ACCOUNT, THROTTLE_WINDOW
from portal.auth.tokens import digest
from tests.support import (
    CSRF_INPUT,
    Factory,
    PortalServer,
    UserInfo,
    session_cookie,
    signed_in,
    start_server,
    stop_server,
)

ERROR_PARAGRAPH = re.compile(r'<p class="error" role="alert">(.*?)</p>', re.S)
OFF_SITE_TARGETS = [
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example/",
    "/\t/evil.example/",
    "http:/evil.example/",
    "javascript:alert(1)",
    "evil.example",
]


@pytest.fixture(scope="module")
def signin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    """A portal of its own for failed sign-ins: the per-address limit counts every failure
    from 127.0.0.1, and other tests must not be throttled by these."""
    portal_server = start_server(tmp_path_factory.mktemp("signin"))
    yield portal_server
    stop_server(portal_server)


@pytest.fixture(scope="module")
def signin_factory(signin_server: PortalServer) -> Factory:
    return Factory(signin_server)


def post_login(client: httpx.Client, *, workspace: str, email: str, password: str,
               next_path: str = "/") -> httpx.Response:
    page = client.get("/login")
    match = CSRF_INPUT.search(page.text)
    assert match, "sign-in form has no CSRF token"
    return client.post("/login", data={
        "csrf_token": match.group(1), "workspace": workspace, "email": email,
        "password": password, "next": next_path,
    })


def login_as(client: httpx.Client, user: UserInfo, *, password: str | None = None,
             next_path: str = "/") -> httpx.Response:
    return post_login(client, workspace=user.tenant.slug, email=user.email,
                      password=user.password if password is None else password,
                      next_path=next_path)


def error_text(response: httpx.Response) -> str:
    match = ERROR_PARAGRAPH.search(response.text)
    assert match, f"no error paragraph in the page:\n{response.text}"
    return match.group(1).strip()


def session_cookies(response: httpx.Response) -> list[str]:
    return [header for header in response.headers.get_list("set-cookie")
            if header.startswith("miportal_session=")]


def test_login_page_has_csrf_token(server: PortalServer) -> None:
    response = httpx.get(server.base_url + "/login")

    assert response.status_code == 200
    assert CSRF_INPUT.search(response.text)
    (csrf_cookie,) = [header for header in response.headers.get_list("set-cookie")
                      if header.startswith("miportal_csrf=")]
    assert "HttpOnly" in csrf_cookie
    assert "SameSite=Lax" in csrf_cookie


def test_login_success_sets_session_cookie(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with httpx.Client(base_url=server.base_url) as client:
        response = login_as(client, user)
        desktop = client.get("/")

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    (cookie,) = session_cookies(response)
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "secure" not in attributes
    assert desktop.status_code == 200
    assert 'id="miportal-boot"' in desktop.text


def test_login_stores_only_cookie_digest(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with signed_in(server, user) as client:
        cookie = session_cookie(client)

    rows = factory.execute("SELECT token_hash FROM portal_session WHERE user_id = :user_id",
                           user_id=user.id)
    assert rows == [(digest(cookie),)]


def test_login_case_insensitive_names(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with httpx.Client(base_url=server.base_url) as client:
        response = post_login(client, workspace=user.tenant.slug.upper(),
                              email=user.email.upper(), password=user.password)

    assert response.status_code == 303


def test_login_redirects_to_next(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with httpx.Client(base_url=server.base_url) as client:
        response = login_as(client, user, next_path="/apps/system/?tab=1")

    assert response.headers["location"] == "/apps/system/?tab=1"


@pytest.mark.parametrize("target", OFF_SITE_TARGETS)
def test_login_next_never_off_site(server: PortalServer, factory: Factory, target: str) -> None:
    user = factory.user(factory.tenant())

    with httpx.Client(base_url=server.base_url) as client:
        page = client.get("/login", params={"next": target})
        response = login_as(client, user, next_path=target)
        signed_in_page = client.get("/login", params={"next": target})

    assert 'name="next" value="/"' in page.text
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert signed_in_page.status_code == 303
    assert signed_in_page.headers["location"] == "/"


def test_login_failures_look_alike(signin_server: PortalServer,
                                   signin_factory: Factory) -> None:
    tenant = signin_factory.tenant()
    user = signin_factory.user(tenant)

    with httpx.Client(base_url=signin_server.base_url) as client:
        wrong_password = login_as(client, user, password="not the password")
        unknown_email = post_login(client, workspace=tenant.slug,
                                   email="nobody@example.com", password=user.password)
        unknown_workspace = post_login(client, workspace="no-such-workspace",
                                       email=user.email, password=user.password)

    responses = [wrong_password, unknown_email, unknown_workspace]
    assert [response.status_code for response in responses] == [401, 401, 401]
    assert [error_text(response) for response in responses] == [INVALID_CREDENTIALS] * 3
    assert [session_cookies(response) for response in responses] == [[], [], []]


def test_login_disabled_user(signin_server: PortalServer, signin_factory: Factory) -> None:
    user = signin_factory.user(signin_factory.tenant())
    signin_factory.execute("UPDATE portal_user SET is_active = false WHERE id = :user_id",
                           user_id=user.id)

    with httpx.Client(base_url=signin_server.base_url) as client:
        response = login_as(client, user)

    assert response.status_code == 401
    assert error_text(response) == INVALID_CREDENTIALS
    assert session_cookies(response) == []


def test_login_throttled_after_failures(signin_server: PortalServer,
                                        signin_factory: Factory) -> None:
    tenant = signin_factory.tenant()
    user = signin_factory.user(tenant)
    neighbour = signin_factory.user(tenant)

    with httpx.Client(base_url=signin_server.base_url) as client:
        failures = [login_as(client, user, password=f"wrong password {attempt}")
                    for attempt in range(MAX_FAILURES_PER_ACCOUNT)]
        throttled = login_as(client, user)
        neighbour_response = login_as(client, neighbour)

    assert [response.status_code for response in failures] == [401] * MAX_FAILURES_PER_ACCOUNT
    assert throttled.status_code == 429
    # The window is an estimate over two fixed windows, so the wait is at most two of them.
    assert 0 < int(throttled.headers["retry-after"]) <= 2 * THROTTLE_WINDOW.total_seconds()
    assert "Too many failed sign-ins" in error_text(throttled)
    assert session_cookies(throttled) == []
    assert neighbour_response.status_code == 303


def test_login_success_clears_failures(signin_server: PortalServer,
                                       signin_factory: Factory) -> None:
    user = signin_factory.user(signin_factory.tenant())

    with httpx.Client(base_url=signin_server.base_url) as client:
        for attempt in range(MAX_FAILURES_PER_ACCOUNT - 1):
            login_as(client, user, password=f"wrong password {attempt}")
        first_success = login_as(client, user)
        client.cookies.delete("miportal_session")
        after_reset = [login_as(client, user, password=f"wrong again {attempt}")
                       for attempt in range(MAX_FAILURES_PER_ACCOUNT - 1)]
        second_success = login_as(client, user)

    assert first_success.status_code == 303
    assert [response.status_code for response in after_reset] == [401] * (
        MAX_FAILURES_PER_ACCOUNT - 1)
    assert second_success.status_code == 303


def test_logout_deletes_session(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with signed_in(server, user) as client:
        cookie = session_cookie(client)
        response = client.post("/logout")
        after = client.get("/", headers={"accept": "text/html"})

    with httpx.Client(base_url=server.base_url,
                      cookies={"miportal_session": cookie}) as replay:
        replayed = replay.get("/api/desktop/apps")

    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    (cleared,) = session_cookies(response)
    assert "max-age=0" in cleared.lower()
    assert after.status_code == 303
    assert after.headers["location"] == "/login"
    assert replayed.status_code == 401
    assert replayed.json()["error"]["code"] == "not_authenticated"
    rows = factory.execute("SELECT count(*) FROM portal_session WHERE token_hash = :token_hash",
                           token_hash=digest(cookie))
    assert rows == [(0,)]


def test_logout_keeps_other_sessions(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with signed_in(server, user) as laptop, signed_in(server, user) as phone:
        laptop.post("/logout")
        response = phone.get("/api/desktop/apps")

    assert response.status_code == 200

