"""Fixtures for TicketCloud's REST API tests: workspaces with the app installed and one
API client per role, all talking to the session's running server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from portal.db import Database
from portal.models import Role
from tests.support import Factory, PortalServer, TenantInfo, UserInfo
from ticketcloud.categories import do_create_category
from ticketcloud.teams import do_add_member, do_create_team

API = "/apps/ticketcloud/api/v1"


@dataclass
class ApiWorkspace:
    """A tenant with TicketCloud installed: an admin, two agents and two customers,
    each with an API client that sends their bearer token."""

    tenant: TenantInfo
    users: dict[str, UserInfo]
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, role: str) -> httpx.Client:
        return self.clients[role]

    def user_id(self, role: str) -> int:
        return self.users[role].id


def open_client(server: PortalServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url + API, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def build_workspace(server: PortalServer, factory: Factory) -> ApiWorkspace:
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    roles = {"admin": Role.ADMIN, "agent": Role.AGENT, "agent2": Role.AGENT,
             "customer": Role.CUSTOMER, "other_customer": Role.CUSTOMER}
    users = {name: factory.user(tenant, role, name=name.replace("_", " ").title())
             for name, role in roles.items()}
    workspace = ApiWorkspace(tenant, users)
    for name, user in users.items():
        workspace.clients[name] = open_client(server, factory.api_token(user))
    return workspace


@contextmanager
def workspace_of(server: PortalServer, factory: Factory) -> Iterator[ApiWorkspace]:
    workspace = build_workspace(server, factory)
    try:
        yield workspace
    finally:
        for client in workspace.clients.values():
            client.close()


@pytest.fixture(scope="module")
def api(server: PortalServer, factory: Factory) -> Iterator[ApiWorkspace]:
    """A workspace with TicketCloud installed and a client per role, shared by the tests
    of a module. Tests that count tickets use `fresh_api` instead."""
    with workspace_of(server, factory) as workspace:
        yield workspace


@pytest.fixture(scope="module")
def other_api(server: PortalServer, factory: Factory) -> Iterator[ApiWorkspace]:
    """A second workspace for tenant isolation checks. Tests never create tickets in it,
    so every ticket number of `api` is unknown here."""
    with workspace_of(server, factory) as workspace:
        yield workspace


@pytest.fixture
def fresh_api(server: PortalServer, factory: Factory) -> Iterator[ApiWorkspace]:
    """A workspace of the test's own, for tests that count or number tickets."""
    with workspace_of(server, factory) as workspace:
        yield workspace


def create_ticket(client: httpx.Client, *, subject: str = "Printer on fire",
                  body: str = "The office printer smokes.", **fields: Any) -> dict[str, Any]:
    response = client.post("/tickets", json={"subject": subject, "body": body, **fields})
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


def add_team(factory: Factory, tenant: TenantInfo, name: str, member_ids: list[int]) -> int:
    """Create a team with members through the domain functions; the API only reads teams."""

    async def create(db: Database) -> int:
        async with db.transaction() as session:
            team = await do_create_team(session, tenant.id, name=name)
            assert team.id is not None
            for user_id in member_ids:
                await do_add_member(session, tenant.id, team.id, user_id)
            return team.id

    team_id: int = factory._run(create)  # type: ignore[no-untyped-call]
    return team_id


def add_category(factory: Factory, tenant: TenantInfo, name: str) -> int:
    async def create(db: Database) -> int:
        async with db.transaction() as session:
            category = await do_create_category(session, tenant.id, name=name)
            assert category.id is not None
            return category.id

    category_id: int = factory._run(create)  # type: ignore[no-untyped-call]
    return category_id
