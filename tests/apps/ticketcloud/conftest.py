"""Fixtures for TicketCloud's domain tests: a migrated database of their own, the app
loaded through the portal's registry, and a workspace with agents and a customer."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import Database
from portal.events.bus import InProcessBus
from portal.events.model import Event
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.models import User
from portal.registry import installations
from portal.registry.discovery import folder_sources
from portal.registry.registry import AppRegistry
from portal.sdk import AppContext, Principal, Role
from portal.settings import REPOSITORY_ROOT
from portal.tenants import do_create_tenant, do_create_user
from tests.portal.mail.sink import MailSink
from tests.support import (
    PortalServer,
    create_database,
    drop_database,
    free_port,
    start_server,
    stop_server,
)
from ticketcloud.attachments import AttachmentUpload
from ticketcloud.mail_in import do_set_support_address
from ticketcloud.models import HistoryEntry, Team, Ticket, TicketCounter
from ticketcloud.rule_store import do_create_rule
from ticketcloud.teams import do_add_member, do_create_team
from ticketcloud.tickets import do_create_ticket

APPS_DIR = REPOSITORY_ROOT / "apps"
MIGRATIONS = APPS_DIR / "ticketcloud" / "migrations"


class Rollback(Exception):
    """Raised inside a transaction to make it roll back."""


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a database migrated once per run, as a server migrates it on install.
    Each test gets a copy, because copying is much faster than migrating again."""

    async def migrate() -> str:
        url = await create_database(tmp_path_factory.mktemp("template"), "ticketcloud")
        database = Database(url)
        try:
            await upgrade(database, [PORTAL_BRANCH, "ticketcloud"], build_config([MIGRATIONS]))
        finally:
            await database.dispose()
        return url

    return asyncio.run(migrate())


@pytest.fixture
async def db(tmp_path: Path, migrated_template: str) -> AsyncIterator[Database]:
    """A fresh database (SQLite, or PostgreSQL in that run) with the portal's and
    TicketCloud's tables."""
    database = Database(await create_database(tmp_path, "ticketcloud",
                                              template=migrated_template))
    yield database
    await database.dispose()
    await drop_database(database.url)


@pytest.fixture
def published() -> list[Event]:
    """The events the bus delivered, in order; an event lands here only after its commit."""
    return []


@pytest.fixture
def registry(db: Database, tmp_path: Path, published: list[Event],
             monkeypatch: pytest.MonkeyPatch) -> AppRegistry:
    """The portal's registry with the in-tree apps loaded, as a server loads them."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    bus = InProcessBus()
    bus.subscribe(published.append)
    loaded = AppRegistry(db=db, bus=bus, data_dir=tmp_path / "data", secret_key="test secret")
    loaded.load(folder_sources(APPS_DIR))
    assert "ticketcloud" in loaded.apps, loaded.broken
    return loaded


@pytest.fixture
def context(registry: AppRegistry) -> AppContext:
    """TicketCloud's AppContext, with its signing key and data folder."""
    return registry.apps["ticketcloud"].context


@dataclass
class Workspace:
    """A tenant with an admin, three agents and two customers."""

    tenant_id: int
    slug: str
    admin: User
    agents: list[User]
    customer: User
    other_customer: User
    teams: dict[str, Team] = field(default_factory=dict)

    def principal(self, user: User) -> Principal:
        assert user.id is not None
        return Principal(user_id=user.id, tenant_id=self.tenant_id, tenant_slug=self.slug,
                         tenant_name=self.slug, role=user.role, name=user.name,
                         email=user.email, via="session")

    def agent_id(self, index: int) -> int:
        user_id = self.agents[index].id
        assert user_id is not None
        return user_id


async def create_workspace(db: Database, slug: str) -> Workspace:
    async with db.transaction() as session:
        tenant = await do_create_tenant(session, slug=slug, name=slug.title())
        assert tenant.id is not None

        async def user(email: str, name: str, role: Role) -> User:
            assert tenant.id is not None
            return await do_create_user(session, tenant_id=tenant.id, email=f"{email}@{slug}.test",
                                        name=name, role=role.value, password=None)

        return Workspace(
            tenant_id=tenant.id, slug=slug,
            admin=await user("admin", "Ada Admin", Role.ADMIN),
            agents=[await user(f"agent{index}", f"Agent {index}", Role.AGENT)
                    for index in range(3)],
            customer=await user("customer", "Cal Customer", Role.CUSTOMER),
            other_customer=await user("other", "Olive Other", Role.CUSTOMER),
        )


@pytest.fixture
async def workspace(db: Database) -> Workspace:
    return await create_workspace(db, "acme")


@pytest.fixture
async def other_workspace(db: Database) -> Workspace:
    return await create_workspace(db, "globex")


async def add_team(db: Database, workspace: Workspace, name: str, *,
                   members: list[int], strategy: str = "round_robin") -> Team:
    async with db.transaction() as session:
        team = await do_create_team(session, workspace.tenant_id, name=name, strategy=strategy)
        assert team.id is not None
        for user_id in members:
            await do_add_member(session, workspace.tenant_id, team.id, user_id)
    workspace.teams[name] = team
    return team


async def add_rule(db: Database, workspace: Workspace, data: dict[str, Any]) -> int:
    async with db.transaction() as session:
        rule = await do_create_rule(session, workspace.tenant_id, data)
    assert rule.id is not None
    return rule.id


async def receive_mail_at(db: Database, registry: AppRegistry, context: AppContext,
                          workspace: Workspace, address: str) -> None:
    """Install TicketCloud for the workspace and make `address` its support address."""
    await installations.install(db, registry, tenant_id=workspace.tenant_id,
                                app_id="ticketcloud")
    async with context.transaction() as session:
        await do_set_support_address(session, workspace.tenant_id, address)


async def create_ticket(context: AppContext, workspace: Workspace, *,
                        subject: str = "Printer on fire",
                        body: str = "The office printer smokes when printing.",
                        requester_email: str | None = None, requester_name: str = "Cal Customer",
                        channel: str = "web", category: int | None = None,
                        attachments: tuple[AttachmentUpload, ...] = (),
                        requester_user_id: int | None = None) -> Ticket:
    async with context.transaction() as session:
        return await do_create_ticket(
            context, session, tenant_id=workspace.tenant_id, subject=subject, body=body,
            requester_email=requester_email or workspace.customer.email,
            requester_name=requester_name, channel=channel, category=category,
            attachments=attachments, requester_user_id=requester_user_id)


async def reload(db: Database, ticket: Ticket) -> Ticket:
    async with db.read() as session:
        fresh = await session.get(Ticket, ticket.id)
    assert fresh is not None
    return fresh


async def history_of(db: Database, ticket: Ticket) -> list[HistoryEntry]:
    async with db.read() as session:
        statement = (select(HistoryEntry).where(HistoryEntry.ticket_id == ticket.id)
                     .order_by(col(HistoryEntry.id)))
        return list((await session.exec(statement)).all())


async def count_rows(session: AsyncSession, model: Any, tenant_id: int) -> int:
    statement = select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
    return int((await session.exec(statement)).one())


async def last_number(db: Database, tenant_id: int) -> int | None:
    async with db.read() as session:
        counter = await session.get(TicketCounter, tenant_id)
    return counter.last_number if counter is not None else None


def topics(events: list[Event]) -> list[str]:
    return [event.topic for event in events]


@pytest.fixture(scope="module")
def sink() -> Iterator[MailSink]:
    """A local SMTP server that receives the portal's outgoing mail, one per module."""
    mail_sink = MailSink()
    mail_sink.start()
    yield mail_sink
    mail_sink.stop()


@pytest.fixture(scope="module")
def mail_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                sink: MailSink) -> Iterator[PortalServer]:
    """A portal of its own per module, with an SMTP listener, the sink as its relay, and
    links in mail that point at its own address."""
    port = free_port()
    folder = tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])
    server = start_server(folder, port=port, seed_demo=False,
                          env={"MIPORTAL_SMTP_RELAY": sink.relay_url,
                               "MIPORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    yield server
    stop_server(server)
