"""Fixtures for TicketCloud's public pages on the shared server.

They give a fresh workspace with TicketCloud installed and a browser-like visitor. Steps
that have no page yet, such as an agent solving a ticket, run TicketCloud's domain
functions against the server's database with the server's signing key."""

from __future__ import annotations

import asyncio
import html
import re
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.db import Database
from portal.events.bus import InProcessBus
from portal.models import Role
from portal.registry.discovery import folder_sources
from portal.registry.registry import AppRegistry
from portal.sdk import AppContext, Principal
from portal.settings import REPOSITORY_ROOT, load_or_create_secret_key
from tests.support import Factory, PortalServer, TenantInfo, UserInfo
from ticketcloud.categories import do_create_category
from ticketcloud.conversation import Author, do_reply
from ticketcloud.models import Ticket
from ticketcloud.ratings import do_issue_rating_token
from ticketcloud.rule_store import do_create_rule
from ticketcloud.settings import do_update_settings
from ticketcloud.updates import do_update_ticket

T = TypeVar("T")
APPS_DIR = REPOSITORY_ROOT / "apps"
ACTION = re.compile(r'<form method="post" action="([^"]+)"')
# The two classic payloads: a script element, and an attribute break-out into an img tag.
XSS_PAYLOADS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>')


def escaped(text: str) -> str:
    """Return `text` as Jinja2's autoescape (MarkupSafe) writes it into HTML."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


@dataclass(frozen=True)
class Helpdesk:
    """A workspace that installed TicketCloud, with one agent."""

    tenant: TenantInfo
    agent: UserInfo

    @property
    def slug(self) -> str:
        return self.tenant.slug

    def url(self, path: str) -> str:
        return f"/apps/ticketcloud/public/{self.slug}{path}"


@pytest.fixture
def helpdesk(factory: Factory) -> Helpdesk:
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    return Helpdesk(tenant, factory.user(tenant, Role.AGENT, name="Agent Smith"))


@pytest.fixture
def visitor(server: PortalServer) -> Iterator[httpx.Client]:
    """A client without sign-in that keeps cookies, as a browser does."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        yield client


def form_action(page: httpx.Response) -> str:
    """Return the action of the page's first POST form, unescaped."""
    match = ACTION.search(page.text)
    assert match, f"no POST form on the page:\n{page.text}"
    return html.unescape(match.group(1))


def csrf_field(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the page has no csrf_token field"
    return match.group(1)


def submit_form(client: httpx.Client, desk: Helpdesk, fields: dict[str, str], *,
                files: Sequence[tuple[str, bytes, str]] = ()) -> httpx.Response:
    """Load the web form and send it as a browser does: multipart, with an empty file
    part when no file is chosen, and the CSRF token in the action's query string."""
    page = client.get(desk.url("/new"))
    assert page.status_code == 200, page.text
    parts = [("attachments", (name, data, content_type)) for name, data, content_type in files]
    if not parts:
        parts = [("attachments", ("", b"", "application/octet-stream"))]
    return client.post(form_action(page), data={"csrf_token": csrf_field(page), **fields},
                       files=parts)


def valid_fields(email: str, **changes: str) -> dict[str, str]:
    fields = {"name": "Cal Customer", "email": email, "subject": "Printer on fire",
              "message": "The office printer smokes when printing."}
    fields.update(changes)
    return fields


class ServerDomain:
    """Runs TicketCloud's domain functions in the server's database, signed with the
    server's key, as the server's own process would."""

    def __init__(self, server: PortalServer) -> None:
        self.server = server

    def run(self, work: Callable[[AppContext], Awaitable[T]]) -> T:
        async def run() -> T:
            database = Database(self.server.database_url)
            saved_path = list(sys.path)
            try:
                registry = AppRegistry(
                    db=database, bus=InProcessBus(), data_dir=self.server.data_dir,
                    secret_key=load_or_create_secret_key(self.server.data_dir))
                registry.load(folder_sources(APPS_DIR))
                return await work(registry.apps["ticketcloud"].context)
            finally:
                sys.path[:] = saved_path
                await database.dispose()

        return asyncio.run(run())

    def ticket(self, desk: Helpdesk, number: int) -> Ticket:
        async def load(context: AppContext) -> Ticket:
            async with context.db.read() as session:
                return await _ticket(session, desk, number)

        return self.run(load)

    def solve(self, desk: Helpdesk, number: int) -> None:
        async def solve(context: AppContext) -> None:
            async with context.transaction() as session:
                ticket = await _ticket(session, desk, number)
                await do_update_ticket(context, session, ticket, actor=agent_principal(desk),
                                       expected_version=ticket.version,
                                       changes={"status": "solved"})

        self.run(solve)

    def rating_token(self, desk: Helpdesk, number: int) -> str:
        async def issue(context: AppContext) -> str:
            async with context.transaction() as session:
                ticket = await _ticket(session, desk, number)
                return await do_issue_rating_token(context, session, ticket)

        return self.run(issue)

    def reply(self, desk: Helpdesk, number: int, body: str, *, visibility: str,
              customer_email: str | None = None) -> None:
        """Add a message as the workspace's agent, or as the customer with that address."""

        async def reply(context: AppContext) -> None:
            async with context.transaction() as session:
                ticket = await _ticket(session, desk, number)
                author = (Author.of_email(customer_email) if customer_email else
                          Author(name="Agent Smith", is_agent=True, user_id=desk.agent.id,
                                 email=desk.agent.email))
                await do_reply(context, session, ticket, author=author, body=body,
                               visibility=visibility)

        self.run(reply)

    def add_rule(self, desk: Helpdesk, data: dict[str, Any]) -> None:
        async def add(context: AppContext) -> None:
            async with context.transaction() as session:
                await do_create_rule(session, desk.tenant.id, data)

        self.run(add)

    def expose_categories(self, desk: Helpdesk, names: list[str]) -> dict[str, int]:
        async def expose(context: AppContext) -> dict[str, int]:
            async with context.transaction() as session:
                await do_update_settings(session, desk.tenant.id, expose_category=True)
                created = {}
                for name in names:
                    category = await do_create_category(session, desk.tenant.id, name=name)
                    assert category.id is not None
                    created[name] = category.id
                return created

        return self.run(expose)


@pytest.fixture(scope="session")
def domain(server: PortalServer) -> ServerDomain:
    return ServerDomain(server)


def agent_principal(desk: Helpdesk) -> Principal:
    return Principal(user_id=desk.agent.id, tenant_id=desk.tenant.id, tenant_slug=desk.slug,
                     tenant_name=desk.slug, role=Role.AGENT, name="Agent Smith",
                     email=desk.agent.email, via="session")


async def _ticket(session: AsyncSession, desk: Helpdesk, number: int) -> Ticket:
    ticket = (await session.exec(select(Ticket).where(
        Ticket.tenant_id == desk.tenant.id, Ticket.number == number))).first()
    assert ticket is not None, f"ticket #{number} not found in {desk.slug}"
    return ticket


def ticket_rows(factory: Factory, desk: Helpdesk) -> list[tuple[Any, ...]]:
    """Return (number, channel, requester_email, requester_name, subject, priority) of
    every ticket of the workspace, by number."""
    return factory.execute(
        "SELECT number, channel, requester_email, requester_name, subject, priority "
        "FROM ticketcloud_ticket WHERE tenant_id = :tenant ORDER BY number",
        tenant=desk.tenant.id)


def created_number(response: httpx.Response) -> int:
    """Return the ticket number in the confirmation URL a submit redirected to."""
    assert response.status_code == 303, response.text
    token = response.headers["location"].rsplit("/", 1)[-1]
    return int(token.split(".", 1)[0])
