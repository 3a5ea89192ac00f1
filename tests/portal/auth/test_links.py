"""Emailed sign-in links over HTTP, with the mail read from a real SMTP server: the
whole flow, single use, expiry, throttling and no account enumeration."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from portal.models import Role
from tests.portal.mail.sink import MailSink, to_address
from tests.support import (
    CSRF_INPUT,
    Factory,
    PortalServer,
    UserInfo,
    free_port,
    start_server,
    stop_server,
)


@pytest.fixture(scope="module")
def sink() -> Iterator[MailSink]:
    mail_sink = MailSink()
    mail_sink.start()
    yield mail_sink
    mail_sink.stop()


@pytest.fixture(scope="module")
def link_server(tmp_path_factory: pytest.TempPathFactory,
                sink: MailSink) -> Iterator[PortalServer]:
    port = free_port()
    server = start_server(tmp_path_factory.mktemp("links"), port=port, seed_demo=False,
                          env={"MIPORTAL_SMTP_RELAY": sink.relay_url,
                               "MIPORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def link_factory(link_server: PortalServer) -> Factory:
    return Factory(link_server)


def request_link(client: httpx.Client, workspace: str, email: str) -> httpx.Response:
    page = client.get("/login/link")
    match = CSRF_INPUT.search(page.text)
    assert match, "the link request form has no CSRF token"
    return client.post("/login/link", data={"csrf_token": match.group(1),
                                            "workspace": workspace, "email": email})


def link_from_mail(sink: MailSink, user: UserInfo) -> str:
    mail = sink.wait_for(to_address(user.email))
    found = re.search(r"http://\S+/login/link/\S+", mail.body())
    assert found, mail.body()
    return found.group()


def spend(client: httpx.Client, link: str) -> httpx.Response:
    page = client.get(link)
    match = CSRF_INPUT.search(page.text)
    token = match.group(1) if match else client.cookies.get("miportal_csrf", "")
    return client.post(link, data={"csrf_token": token})


def test_link_signs_in_once(link_server: PortalServer, link_factory: Factory,
                            sink: MailSink) -> None:
    user = link_factory.user(link_factory.tenant(), Role.CUSTOMER)
    with httpx.Client(base_url=link_server.base_url, timeout=10) as client:
        requested = request_link(client, user.tenant.slug, user.email)
        link = link_from_mail(sink, user)
        first_look = client.get(link)
        second_look = client.get(link)
        signed_in = spend(client, link)
        desktop = client.get("/")
    with httpx.Client(base_url=link_server.base_url, timeout=10) as other:
        reused = spend(other, link)

    assert requested.status_code == 200
    assert link.startswith(link_server.base_url + "/login/link/")
    assert first_look.status_code == 200
    assert second_look.status_code == 200
    assert 'method="post"' in second_look.text
    assert signed_in.status_code == 303
    assert client.cookies.get("miportal_session")
    assert user.email in desktop.text
    assert reused.status_code == 404
    assert "miportal_session" not in reused.headers.get("set-cookie", "")


def test_link_mail_headers(link_factory: Factory, link_server: PortalServer,
                           sink: MailSink) -> None:
    user = link_factory.user(link_factory.tenant(), Role.AGENT)
    with httpx.Client(base_url=link_server.base_url, timeout=10) as client:
        request_link(client, user.tenant.slug, user.email)
    mail = sink.wait_for(to_address(user.email))

    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.sender == f"{user.tenant.slug}@localhost"
    assert str(mail.message["Subject"]) == "Your sign-in link"


def test_link_expired_rejected(link_server: PortalServer, link_factory: Factory,
                               sink: MailSink) -> None:
    user = link_factory.user(link_factory.tenant(), Role.CUSTOMER)
    with httpx.Client(base_url=link_server.base_url, timeout=10) as client:
        request_link(client, user.tenant.slug, user.email)
        link = link_from_mail(sink, user)
        link_factory.execute("UPDATE portal_signin_link SET expires_at = '2000-01-01 00:00:00' "
                             "WHERE user_id = :user_id", user_id=user.id)
        page = client.get(link)
        response = spend(client, link)

    assert page.status_code == 404
    assert response.status_code == 404
    assert "invalid, expired or was already used" in response.text


def test_link_stores_only_digest(link_server: PortalServer, link_factory: Factory,
                                 sink: MailSink) -> None:
    user = link_factory.user(link_factory.tenant(), Role.CUSTOMER)
    with httpx.Client(base_url=link_server.base_url, timeout=10) as client:
        request_link(client, user.tenant.slug, user.email)
    token = link_from_mail(sink, user).rsplit("/", 1)[1]
    stored = link_factory.execute("SELECT token_hash FROM portal_signin_link WHERE "
                                  "user_id = :user_id", user_id=user.id)

    assert len(stored) == 1
    assert token not in stored[0][0]
    assert len(stored[0][0]) == 64


def test_link_request_reveals_no_account(link_server: PortalServer, link_factory: Factory,
                                         sink: MailSink) -> None:
    tenant = link_factory.tenant()
    user = link_factory.user(tenant, Role.CUSTOMER)
    ghost = f"ghost-{tenant.slug}@example.net"
    with httpx.Client(base_url=link_server.base_url, timeout=10) as client:
        existing = request_link(client, tenant.slug, user.email)
        missing = request_link(client, tenant.slug, ghost)
        no_workspace = request_link(client, "no-such-workspace", ghost)
    sink.wait_for(to_address(user.email))

    assert existing.status_code == missing.status_code == no_workspace.status_code == 200
    assert existing.text.replace(user.email, "X") == missing.text.replace(ghost, "X")
    assert no_workspace.text.replace("no-such-workspace", tenant.slug) == missing.text
    assert [item for item in sink.messages() if ghost in item.recipients] == []


def test_link_requests_throttled(link_server: PortalServer, link_factory: Factory) -> None:
    tenant = link_factory.tenant()
    email = f"nobody-{tenant.slug}@example.net"
    with httpx.Client(base_url=link_server.base_url, timeout=10) as client:
        answers = [request_link(client, tenant.slug, email).status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
