"""API tokens: bearer access for scripts, stored only as digests."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from portal.auth.tokens import API_TOKEN_PREFIX, digest, new_api_token, new_secret, same, signed
from tests.support import Factory, PortalServer, stored_time

LONG_AGO = stored_time(datetime(2000, 1, 1, tzinfo=UTC))


def bearer(server: PortalServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url,
                        headers={"authorization": f"Bearer {token}"})


def test_digest_is_sha256_hex() -> None:
    value = digest("secret")

    assert value == "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
    assert digest("secret ") != value


def test_new_secrets_differ() -> None:
    tokens = {new_api_token() for _ in range(100)}

    assert len(tokens) == 100
    assert all(token.startswith(API_TOKEN_PREFIX) for token in tokens)
    assert len(new_secret()) >= 43


def test_signed_depends_on_key_and_parts() -> None:
    reference = signed("key", "a", "b")

    assert signed("key", "a", "b") == reference
    assert signed("other key", "a", "b") != reference
    assert signed("key", "a\x1fb") == reference
    assert signed("key", "ab") != reference
    assert same(reference, signed("key", "a", "b"))
    assert not same(reference, signed("key", "b", "a"))


def test_token_lists_desktop_apps(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    user = factory.user(tenant)
    factory.install(tenant, "hello")
    token = factory.api_token(user)

    with bearer(server, token) as client:
        response = client.get("/api/desktop/apps")

    assert response.status_code == 200, response.text
    assert "hello" in {app["id"] for app in response.json()["apps"]}


def test_token_reaches_app_routes(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    user = factory.user(tenant)
    factory.install(tenant, "hello")
    token = factory.api_token(user)

    with bearer(server, token) as client:
        created = client.post("/apps/hello/api/greetings", json={"text": "from a script"})
        listed = client.get("/apps/hello/api/greetings")

    assert created.status_code == 201, created.text
    assert [greeting["text"] for greeting in listed.json()["greetings"]] == ["from a script"]
    rows = factory.execute("SELECT user_id FROM hello_greeting WHERE tenant_id = :tenant_id",
                           tenant_id=tenant.id)
    assert rows == [(user.id,)]


def test_token_scheme_case_insensitive(server: PortalServer, factory: Factory) -> None:
    token = factory.api_token(factory.user(factory.tenant()))

    response = httpx.get(server.base_url + "/api/desktop/apps",
                         headers={"authorization": f"bearer {token}"})

    assert response.status_code == 200


def test_token_wrong(server: PortalServer, factory: Factory) -> None:
    token = factory.api_token(factory.user(factory.tenant()))
    wrong_tokens = [token[:-1], API_TOKEN_PREFIX + new_secret(), token[len(API_TOKEN_PREFIX):],
                    digest(token), "x" * 500]

    statuses = []
    for wrong in wrong_tokens:
        with bearer(server, wrong) as client:
            response = client.get("/api/desktop/apps")
        statuses.append(response.status_code)
        assert response.json()["error"]["code"] == "not_authenticated"

    assert statuses == [401] * len(wrong_tokens)


def test_token_revoked(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    user = factory.user(tenant)
    factory.install(tenant, "hello")
    token = factory.api_token(user)
    factory.execute("UPDATE portal_api_token SET revoked_at = :past WHERE token_hash = :hash",
                    past=LONG_AGO, hash=digest(token))

    with bearer(server, token) as client:
        apps = client.get("/api/desktop/apps")
        greeting = client.post("/apps/hello/api/greetings", json={"text": "revoked"})

    assert apps.status_code == 401
    assert greeting.status_code == 401
    assert factory.execute("SELECT count(*) FROM hello_greeting WHERE tenant_id = :tenant_id",
                           tenant_id=tenant.id) == [(0,)]


def test_token_of_disabled_user(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    token = factory.api_token(user)
    factory.execute("UPDATE portal_user SET is_active = false WHERE id = :user_id",
                    user_id=user.id)

    with bearer(server, token) as client:
        response = client.get("/api/desktop/apps")

    assert response.status_code == 401


def test_token_stored_as_digest(factory: Factory) -> None:
    user = factory.user(factory.tenant())
    token = factory.api_token(user)

    rows = factory.execute("SELECT * FROM portal_api_token WHERE user_id = :user_id",
                           user_id=user.id)
    hashes = factory.execute("SELECT token_hash FROM portal_api_token WHERE user_id = :user_id",
                             user_id=user.id)

    assert len(rows) == 1
    assert hashes == [(digest(token),)]
    stored = " ".join(str(value) for value in rows[0])
    assert token not in stored
    assert token[len(API_TOKEN_PREFIX):] not in stored
