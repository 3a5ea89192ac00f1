"""TicketCloud from end to end in Chromium: a visitor's web form, routing to Billing, the
agent's toast and ticket window, the customer portal and rating, and the auto-close."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect
from sqlmodel import select

from portal.db import Database
from portal.events.bus import InProcessBus
from portal.models import Role
from portal.registry.discovery import folder_sources
from portal.registry.registry import AppRegistry
from portal.sdk import AppContext, utcnow
from portal.settings import REPOSITORY_ROOT, load_or_create_secret_key
from tests.browser.conftest import VIEWPORT
from tests.browser.test_ticketcloud_windows import API, NOTE_BACKGROUND, app_frame
from tests.support import Factory, PortalServer, TenantInfo, UserInfo
from ticketcloud.autoclose import do_close_solved
from ticketcloud.models import Ticket
from ticketcloud.settings import do_update_settings
from ticketcloud.teams import do_add_member, do_create_team

pytestmark = pytest.mark.browser

T = TypeVar("T")
MAX_TOAST_DELAY_MS = 1000
AUTO_CLOSE_HOURS = 1
SUBJECT = "Wrong amount on invoice 2026-117"
NOTE = "Finance confirms the discount was left out."
REPLY = "We sent you a corrected invoice."
RATING_COMMENT = "Quick and friendly."

# Records, in epoch milliseconds, when the first toast element enters the page.
WATCH_FOR_TOAST = """() => {
    window.toastSeenAt = null;
    new MutationObserver((records, observer) => {
        if (!document.querySelector('.mp-toast')) return;
        window.toastSeenAt = Date.now();
        observer.disconnect();
    }).observe(document.querySelector('.mp-toasts'), {childList: true});
}"""


def run_in_server(server: PortalServer, work: Callable[[AppContext], Awaitable[T]]) -> T:
    """Run `work` with TicketCloud's context on the server's database and signing key, on
    a worker thread, because Playwright's sync API keeps a loop running on this one."""

    async def run() -> T:
        database = Database(server.database_url)
        saved_path = list(sys.path)
        try:
            registry = AppRegistry(db=database, bus=InProcessBus(), data_dir=server.data_dir,
                                   secret_key=load_or_create_secret_key(server.data_dir))
            registry.load(folder_sources(REPOSITORY_ROOT / "apps"))
            return await work(registry.apps["ticketcloud"].context)
        finally:
            sys.path[:] = saved_path
            await database.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


def create_billing_team(server: PortalServer, tenant: TenantInfo, agent: UserInfo) -> int:
    async def create(context: AppContext) -> int:
        async with context.transaction() as session:
            team = await do_create_team(session, tenant.id, name="Billing")
            assert team.id is not None
            await do_add_member(session, tenant.id, team.id, agent.id)
            await do_update_settings(session, tenant.id, auto_close_hours=AUTO_CLOSE_HOURS)
            return team.id

    return run_in_server(server, create)


def close_solved_later(server: PortalServer, tenant: TenantInfo, number: int) -> int:
    """Run the auto-close as its job does, at a time just past the tenant's delay after
    the ticket was solved, and return how many tickets it closed."""

    async def close(context: AppContext) -> int:
        async with context.transaction() as session:
            ticket = (await session.exec(select(Ticket).where(
                Ticket.tenant_id == tenant.id, Ticket.number == number))).one()
            assert ticket.solved_at is not None
            # The run covers every workspace of the shared server, but other tests' tickets
            # were solved minutes ago and their workspaces keep the 72-hour default.
            later = max(ticket.solved_at, utcnow()) + timedelta(hours=AUTO_CLOSE_HOURS,
                                                                seconds=1)
            return await do_close_solved(context, session, later)

    return run_in_server(server, close)


@pytest.fixture
def admin_api(server: PortalServer, factory: Factory,
              billing_tenant: TenantInfo) -> Iterator[httpx.Client]:
    token = factory.api_token(factory.user(billing_tenant, Role.ADMIN, name="Ann Admin"))
    with httpx.Client(base_url=server.base_url + API, timeout=10,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


@pytest.fixture
def billing_tenant(factory: Factory) -> TenantInfo:
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    return tenant


def visitor_context(browser: Browser, server: PortalServer,
                    contexts: list[BrowserContext]) -> Page:
    context = browser.new_context(viewport=VIEWPORT, base_url=server.base_url,
                                  reduced_motion="reduce")
    contexts.append(context)
    return context.new_page()


def is_form_post(response: Response) -> bool:
    return response.request.method == "POST" and urlsplit(response.url).path.endswith("/new")


def test_web_ticket_full_lifecycle(
        server: PortalServer, factory: Factory, browser: Browser,
        contexts: list[BrowserContext], open_desktop: Callable[..., Page],
        billing_tenant: TenantInfo, admin_api: httpx.Client) -> None:
    agent = factory.user(billing_tenant, Role.AGENT, name="Bill Agent")
    customer = factory.user(billing_tenant, Role.CUSTOMER, name="Cora Customer")
    team_id = create_billing_team(server, billing_tenant, agent)
    rule = admin_api.post("/rules", json={
        "name": "Invoices to Billing", "match": "all",
        "conditions": [{"field": "subject", "operator": "contains", "value": "invoice"}],
        "actions": [{"type": "set_team", "value": team_id}]})
    assert rule.status_code == 201, rule.text
    desk = open_desktop(agent)
    desk.evaluate(WATCH_FOR_TOAST)

    # (1) The visitor sends the web form without signing in.
    visitor = visitor_context(browser, server, contexts)
    visitor.goto(f"/apps/ticketcloud/public/{billing_tenant.slug}/new")
    visitor.fill("#name", "Cora Customer")
    visitor.fill("#email", customer.email)
    visitor.fill("#subject", SUBJECT)
    visitor.fill("#message", "The invoice is missing our discount.")
    with visitor.expect_response(is_form_post) as answer:
        visitor.get_by_role("button", name="Send request").click()
    assert answer.value.status == 303
    timing = answer.value.request.timing
    # Playwright reports -1 for a timing it did not record.
    assert timing["responseEnd"] >= 0
    answered_at = timing["startTime"] + timing["responseEnd"]
    number_text = visitor.locator(".ticket-number")
    expect(number_text).to_have_text(re.compile(r"Your ticket number is #\d+\."))
    number = int(re.sub(r"\D", "", number_text.inner_text()))
    stored = admin_api.get(f"/tickets/{number}").json()
    assert stored["subject"] == SUBJECT
    assert stored["channel"] == "web"
    assert stored["team_id"] == team_id
    assert stored["assignee_id"] == agent.id

    # (2) The assignee's toast follows within a second.
    desk.wait_for_function("() => window.toastSeenAt !== null",
                           timeout=MAX_TOAST_DELAY_MS + 4000)
    toast_delay = desk.evaluate("() => window.toastSeenAt") - answered_at
    print(f"toast {toast_delay:.0f} ms after the form's response")
    assert toast_delay < MAX_TOAST_DELAY_MS
    toast = desk.locator(".mp-toast")
    expect(toast.locator(".mp-toast-title")).to_have_text(f"Ticket #{number} assigned to you")
    expect(toast.locator(".mp-toast-body")).to_have_text(SUBJECT)

    # (3) The toast opens the ticket window.
    toast.locator(".mp-toast-content").click()
    ticket_window = desk.locator(".mp-window[data-window-type='ticket']")
    expect(ticket_window).to_have_count(1)
    frame = app_frame(ticket_window)
    expect(frame.locator("#number")).to_have_text(f"#{number}")
    expect(frame.locator("#subject")).to_have_text(SUBJECT)

    # (4) A note, a public reply, and solved.
    frame.locator("#composer-body").fill(NOTE)
    frame.get_by_role("button", name="Add internal note").click()
    note = frame.locator(".tc-message[data-visibility='internal']")
    expect(note.locator(".tc-message-body")).to_have_text(NOTE)
    expect(note).to_have_css("background-color", NOTE_BACKGROUND)
    frame.locator("#composer-body").fill(REPLY)
    frame.get_by_role("button", name="Reply publicly").click()
    reply = frame.locator(".tc-message.tc-message-agent[data-visibility='public']")
    expect(reply.locator(".tc-message-body")).to_have_text(REPLY)
    frame.locator("#status-control").select_option("solved")
    expect(frame.locator("#status")).to_have_text("Saved.")
    assert admin_api.get(f"/tickets/{number}").json()["status"] == "solved"

    # (5) The customer signs in, reads the reply but not the note, and rates.
    visitor.goto("/login?next=/apps/ticketcloud/my")
    visitor.fill("#workspace", billing_tenant.slug)
    visitor.fill("#email", customer.email)
    visitor.fill("#password", customer.password)
    visitor.click("button[type=submit]")
    visitor.wait_for_url(server.base_url + "/apps/ticketcloud/my")
    row = visitor.locator("table.tickets tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").first).to_have_text(f"#{number}")
    expect(row.locator(".status")).to_have_text("Solved")
    row.get_by_role("link", name=SUBJECT).click()
    visitor.wait_for_url(server.base_url + f"/apps/ticketcloud/my/{number}")
    expect(visitor.locator(".message.from-agent .body")).to_have_text([REPLY])
    expect(visitor.locator("body")).not_to_contain_text(NOTE)
    visitor.get_by_role("link", name="Rate this ticket").click()
    visitor.get_by_label("5 \u2013 Very satisfied").check()
    visitor.fill("#comment", RATING_COMMENT)
    visitor.get_by_role("button", name="Send rating").click()
    visitor.wait_for_url(server.base_url + f"/apps/ticketcloud/my/{number}")
    expect(visitor.locator(".rating")).to_contain_text("You rated this ticket 5 of 5.")

    # (6) The auto-close closes the ticket, and the rating stays in the report.
    assert close_solved_later(server, billing_tenant, number) >= 1
    closed: dict[str, Any] = admin_api.get(f"/tickets/{number}").json()
    assert closed["status"] == "closed"
    report = admin_api.get("/ratings/report").json()
    assert report["agents"] == [{"id": agent.id, "count": 1, "average": 5.0}]
    assert report["teams"] == [{"id": team_id, "count": 1, "average": 5.0}]
    assert factory.execute(
        "SELECT score, comment FROM ticketcloud_rating WHERE tenant_id = :tenant",
        tenant=billing_tenant.id) == [(5, RATING_COMMENT)]
    visitor.reload()
    expect(visitor.locator(".notice")).to_have_text(
        "This ticket is closed. Open a new ticket if you need more help.")
