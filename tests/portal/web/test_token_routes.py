"""The API token endpoints: a user's own tokens, the admin's view, and last use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col

from portal.auth.api_tokens import MAX_ACTIVE_TOKENS
from portal.auth.tokens import API_TOKEN_PREFIX
from portal.db import Database
from portal.models import ApiToken
from tests.support import Factory, PortalServer, UserInfo, run_sync, signed_in


def bearer(server: PortalServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, timeout=10, headers={"authorization": f"Bearer {token}"}
    )


def create_token(client: httpx.Client, name: str = "backup script") -> dict[str, Any]:
    response = client.post("/api/me/tokens", json={"name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def last_used_at(server: PortalServer, token_id: int) -> datetime | None:
    """Return the stored last use, read through the model so that it is timezone-aware
    on SQLite as on PostgreSQL."""

    async def read() -> datetime | None:
        db = Database(server.database_url)
        try:
            async with db.read() as session:
                row = await session.get(ApiToken, token_id)
                assert row is not None
                return row.last_used_at
        finally:
            await db.dispose()

    return run_sync(read())


def set_last_used_at(server: PortalServer, token_id: int, value: datetime) -> None:
    async def write() -> None:
        db = Database(server.database_url)
        try:
            async with db.transaction() as session:
                await session.exec(
                    update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=value)
                )
        finally:
            await db.dispose()

    run_sync(write())


def test_tokens_round_trip(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with signed_in(server, user) as client:
        first = create_token(client, "  first  ")
        second = create_token(client, "second")
        listed = client.get("/api/me/tokens")
        revoked = client.delete(f"/api/me/tokens/{first['id']}")
        again = client.delete(f"/api/me/tokens/{first['id']}")
        after = client.get("/api/me/tokens").json()["tokens"]

    assert first["name"] == "first"
    assert first["token"].startswith(API_TOKEN_PREFIX)
    assert set(first) == {"id", "name", "token", "created_at"}
    tokens = listed.json()["tokens"]
    assert [token["id"] for token in tokens] == [second["id"], first["id"]]
    assert set(tokens[0]) == {"id", "name", "created_at", "last_used_at", "revoked_at"}
    assert tokens[0]["revoked_at"] is None
    assert first["token"] not in listed.text
    assert revoked.status_code == 200
    assert revoked.json()["token"]["revoked_at"] is not None
    assert again.status_code == 200
    assert again.json()["token"]["revoked_at"] == revoked.json()["token"]["revoked_at"]
    assert after[1]["revoked_at"] == revoked.json()["token"]["revoked_at"]
    assert after[0]["revoked_at"] is None


def test_created_token_works_until_revoked(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    with signed_in(server, user) as client:
        created = create_token(client)

        with bearer(server, created["token"]) as script:
            before = script.get("/api/desktop/layout")
            client.delete(f"/api/me/tokens/{created['id']}")
            after = script.get("/api/desktop/layout")

    assert before.status_code == 200
    assert after.status_code == 401


def test_token_may_revoke_itself(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    with signed_in(server, user) as client:
        created = create_token(client)

    with bearer(server, created["token"]) as script:
        revoked = script.delete(f"/api/me/tokens/{created['id']}")
        after = script.get("/api/me/tokens")

    assert revoked.status_code == 200
    assert after.status_code == 401


def test_token_cannot_create_tokens(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    token = factory.api_token(user)

    with bearer(server, token) as script:
        response = script.post("/api/me/tokens", json={"name": "minted"})
        listed = script.get("/api/me/tokens")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "session_required"
    assert "sign in" in response.json()["error"]["message"]
    assert [item["name"] for item in listed.json()["tokens"]] == ["test"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "missing"),
        ({"name": None}, "missing"),
        ({"name": "   "}, "empty"),
        ({"name": 5}, "must be a string"),
        ({"name": "x" * 101}, "maximum is 100"),
        ({"name": "bad\nname"}, "control character"),
    ],
)
def test_create_token_invalid_name(
    server: PortalServer, factory: Factory, body: dict[str, Any], message: str
) -> None:
    user = factory.user(factory.tenant())

    with signed_in(server, user) as client:
        response = client.post("/api/me/tokens", json=body)
        listed = client.get("/api/me/tokens").json()["tokens"]

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "name"
    assert message in error["message"]
    assert listed == []


def test_create_token_longest_name(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with signed_in(server, user) as client:
        created = create_token(client, " " + "x" * 100 + " ")

    assert created["name"] == "x" * 100


def test_create_token_not_json(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with signed_in(server, user) as client:
        response = client.post(
            "/api/me/tokens", content=b"name=x", headers={"content-type": "application/json"}
        )

    assert response.status_code == 422
    assert "not valid JSON" in response.json()["error"]["message"]


def test_create_token_cap(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())

    with signed_in(server, user) as client:
        created = [create_token(client, f"token {index}") for index in range(MAX_ACTIVE_TOKENS)]
        over = client.post("/api/me/tokens", json={"name": "one too many"})
        client.delete(f"/api/me/tokens/{created[0]['id']}")
        after_revoke = client.post("/api/me/tokens", json={"name": "replacement"})

    assert over.status_code == 409
    assert over.json()["error"]["code"] == "too_many_tokens"
    assert f"maximum is {MAX_ACTIVE_TOKENS}" in over.json()["error"]["message"]
    assert after_revoke.status_code == 201


def test_user_cannot_touch_other_users_token(server: PortalServer, factory: Factory) -> None:
    tenant = factory.tenant()
    owner = factory.user(tenant)
    other = factory.user(tenant, "admin")
    with signed_in(server, owner) as client:
        created = create_token(client)

    with signed_in(server, other) as client:
        listed = client.get("/api/me/tokens").json()["tokens"]
        revoked = client.delete(f"/api/me/tokens/{created['id']}")
        unknown = client.delete("/api/me/tokens/999999999")

    assert listed == []
    assert revoked.status_code == 404
    assert unknown.status_code == 404
    assert revoked.json()["error"]["message"] == unknown.json()["error"]["message"].replace(
        "999999999", str(created["id"])
    )
    with bearer(server, created["token"]) as script:
        assert script.get("/api/me/tokens").status_code == 200


def test_revoke_needs_csrf(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    with signed_in(server, user) as client:
        created = create_token(client)
        del client.headers["X-CSRF-Token"]
        response = client.delete(f"/api/me/tokens/{created['id']}")
        created_without = client.post("/api/me/tokens", json={"name": "no csrf"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert created_without.status_code == 403


def test_me_tokens_signed_out(server: PortalServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        response = client.get("/api/me/tokens")

    assert response.status_code == 401


def admin_with_token(server: PortalServer, factory: Factory) -> tuple[UserInfo, UserInfo, int]:
    """Build a tenant with an admin and an agent; the agent creates one token."""
    tenant = factory.tenant()
    admin = factory.user(tenant, "admin", name="Ada Admin")
    agent = factory.user(tenant, "agent", name="Alan Agent")
    with signed_in(server, agent) as client:
        token_id = create_token(client, "agent script")["id"]
    return admin, agent, token_id


def test_admin_lists_and_revokes(server: PortalServer, factory: Factory) -> None:
    admin, agent, token_id = admin_with_token(server, factory)

    with signed_in(server, admin) as client:
        listed = client.get("/api/admin/tokens")
        revoked = client.delete(f"/api/admin/tokens/{token_id}")
    with signed_in(server, agent) as client:
        own = client.get("/api/me/tokens").json()["tokens"]

    assert listed.status_code == 200
    [token] = listed.json()["tokens"]
    assert token["id"] == token_id
    assert token["name"] == "agent script"
    assert token["user"] == {"id": agent.id, "name": "Alan Agent", "email": agent.email}
    assert "token_hash" not in token
    assert revoked.status_code == 200
    assert own[0]["revoked_at"] == revoked.json()["token"]["revoked_at"]


def test_admin_tokens_per_tenant(server: PortalServer, factory: Factory) -> None:
    _admin, _agent, token_id = admin_with_token(server, factory)
    other_admin = factory.user(factory.tenant(), "admin")

    with signed_in(server, other_admin) as client:
        listed = client.get("/api/admin/tokens").json()["tokens"]
        revoked = client.delete(f"/api/admin/tokens/{token_id}")

    assert listed == []
    assert revoked.status_code == 404
    assert factory.execute(
        "SELECT revoked_at FROM portal_api_token WHERE id = :id", id=token_id
    ) == [(None,)]


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_admin_tokens_forbidden(server: PortalServer, factory: Factory, role: str) -> None:
    _admin, agent, token_id = admin_with_token(server, factory)
    user = agent if role == "agent" else factory.user(agent.tenant, role)

    with signed_in(server, user) as client:
        listed = client.get("/api/admin/tokens")
        revoked = client.delete(f"/api/admin/tokens/{token_id}")

    assert listed.status_code == 403
    assert revoked.status_code == 403
    assert factory.execute(
        "SELECT revoked_at FROM portal_api_token WHERE id = :id", id=token_id
    ) == [(None,)]


def test_last_used_at_throttled(server: PortalServer, factory: Factory) -> None:
    user = factory.user(factory.tenant())
    with signed_in(server, user) as client:
        created = create_token(client)
    token_id = created["id"]
    assert last_used_at(server, token_id) is None

    with bearer(server, created["token"]) as script:
        assert script.get("/api/desktop/layout").status_code == 200
        first = last_used_at(server, token_id)
        assert first is not None
        assert script.get("/api/desktop/layout").status_code == 200
        unchanged = last_used_at(server, token_id)

        stale = datetime.now(UTC) - timedelta(minutes=6)
        set_last_used_at(server, token_id, stale)
        assert script.get("/api/desktop/layout").status_code == 200
        rewritten = last_used_at(server, token_id)

        recent = datetime.now(UTC) - timedelta(minutes=4)
        set_last_used_at(server, token_id, recent)
        assert script.get("/api/desktop/layout").status_code == 200
        kept = last_used_at(server, token_id)

    assert unchanged == first
    assert rewritten is not None
    assert rewritten > stale + timedelta(minutes=5)
    assert kept == recent
    with signed_in(server, user) as client:
        [listed] = client.get("/api/me/tokens").json()["tokens"]
    assert listed["last_used_at"] is not None
