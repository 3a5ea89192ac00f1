"""`portal.sdk.find_users`: a tenant-scoped user lookup for apps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from portal.db import Database
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.models import Role, User
from portal.sdk import UserRecord, find_users
from portal.tenants import do_create_tenant, do_create_user


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'sdk.sqlite3'}")
    await upgrade(database, [PORTAL_BRANCH], build_config())
    yield database
    await database.dispose()


@pytest.fixture
async def users(db: Database) -> dict[str, User]:
    """Users of tenant "acme" by email, plus one user of tenant "globex"."""
    created = {}
    async with db.transaction() as session:
        for slug in ("acme", "globex"):
            tenant = await do_create_tenant(session, slug=slug, name=slug.title())
            assert tenant.id is not None
            roles = ((("admin", Role.ADMIN), ("agent", Role.AGENT), ("off", Role.AGENT),
                      ("customer", Role.CUSTOMER)) if slug == "acme" else
                     (("agent", Role.AGENT),))
            for local, role in roles:
                user = await do_create_user(session, tenant_id=tenant.id,
                                            email=f"{local}@{slug}.test", name=local.title(),
                                            role=role.value, password=None)
                created[user.email] = user
        created["off@acme.test"].is_active = False
        session.add(created["off@acme.test"])
    return created


async def find(db: Database, tenant_id: int, **filters: object) -> list[str]:
    async with db.read() as session:
        found = await find_users(session, tenant_id, **filters)  # type: ignore[arg-type]
    return [user.email for user in found]


def user_id(user: User) -> int:
    assert user.id is not None
    return user.id


async def test_find_users_whole_tenant_by_id(db: Database, users: dict[str, User]) -> None:
    acme = users["admin@acme.test"].tenant_id

    assert await find(db, acme) == ["admin@acme.test", "agent@acme.test", "off@acme.test",
                                    "customer@acme.test"]


async def test_find_users_by_email_ignores_case(db: Database, users: dict[str, User]) -> None:
    acme = users["admin@acme.test"].tenant_id

    assert await find(db, acme, emails=[" AGENT@Acme.Test", "nobody@acme.test"]) == [
        "agent@acme.test"]


async def test_find_users_by_role_and_id(db: Database, users: dict[str, User]) -> None:
    acme = users["admin@acme.test"].tenant_id
    ids = [user_id(users["agent@acme.test"]), user_id(users["customer@acme.test"])]

    assert await find(db, acme, roles=[Role.AGENT, "admin"]) == [
        "admin@acme.test", "agent@acme.test", "off@acme.test"]
    assert await find(db, acme, ids=ids, roles=["agent"]) == ["agent@acme.test"]


async def test_find_users_empty_filter_matches_nobody(
        db: Database, users: dict[str, User]) -> None:
    acme = users["admin@acme.test"].tenant_id

    assert await find(db, acme, ids=[]) == []
    assert await find(db, acme, emails=[]) == []


async def test_find_users_other_tenant_hidden(db: Database, users: dict[str, User]) -> None:
    acme = users["admin@acme.test"].tenant_id

    assert await find(db, acme, ids=[user_id(users["agent@globex.test"])]) == []
    assert await find(db, acme, emails=["agent@globex.test"]) == []


async def test_find_users_record_fields(db: Database, users: dict[str, User]) -> None:
    off = users["off@acme.test"]
    async with db.read() as session:
        found = await find_users(session, off.tenant_id, ids=[user_id(off)])

    assert found == [UserRecord(id=user_id(off), name="Off", email="off@acme.test",
                                role=Role.AGENT, is_active=False)]
