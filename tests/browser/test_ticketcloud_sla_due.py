"""The due time an agent sets in the ticket window: typed in the browser's time zone,
stored in UTC, and shown back in local time; a time that the zone's clocks skip is
rejected with the server's message."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from portal.models import Role
from tests.browser.test_ticketcloud_windows import (
    API,
    create_ticket,
    open_queue,
    open_ticket,
    ticket_row,
)
from tests.support import Factory, PortalServer, UserInfo

pytestmark = pytest.mark.browser

ZONE = "Europe/Paris"


@pytest.fixture
def agent(factory: Factory) -> UserInfo:
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    return factory.user(tenant, Role.AGENT, name="Ada Agent")


@pytest.fixture
def api(server: PortalServer, factory: Factory, agent: UserInfo) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base_url + API,
        timeout=10,
        headers={"Authorization": f"Bearer {factory.api_token(agent)}"},
    ) as client:
        yield client


def test_agent_sets_due_in_local_time(
    open_desktop: Callable[..., Page], api: httpx.Client, agent: UserInfo
) -> None:
    number = create_ticket(api, "Quarterly report export")["number"]
    page = open_desktop(agent, timezone_id=ZONE, locale="en-GB")
    _, frame = open_ticket(page, open_queue(page), number)
    due_text = frame.locator("#due-shown")
    due_input = frame.get_by_label("Due by")
    expect(due_text).to_have_text("No due time set.")
    expect(frame.get_by_role("button", name="Clear")).to_be_disabled()

    # 17:30 in Paris on 1 July 2027 is 15:30 UTC (summer time, UTC+2).
    due_input.fill("2027-07-01T17:30")
    frame.get_by_role("button", name="Set due time").click()

    expect(due_text).to_have_text(f"Due 1 Jul 2027, 17:30 ({ZONE})")
    expect(due_text).to_have_attribute("title", "2027-07-01T15:30:00Z")
    expect(due_input).to_have_value("2027-07-01T17:30")
    # The history shows an empty old value as an en dash.
    expect(frame.locator("#history li").first).to_contain_text(
        "Due by: \u2013 \u2192 1 Jul 2027, 17:30"
    )
    assert api.get(f"/tickets/{number}").json()["due_at"] == "2027-07-01T15:30:00Z"

    # The clocks in Paris skip from 02:00 to 03:00 on 28 March 2027.
    due_input.fill("2027-03-28T02:30")
    frame.get_by_role("button", name="Set due time").click()

    expect(frame.locator("#status")).to_contain_text("does not exist in Europe/Paris")
    expect(due_input).to_have_value("2027-07-01T17:30")
    assert api.get(f"/tickets/{number}").json()["due_at"] == "2027-07-01T15:30:00Z"

    frame.get_by_role("button", name="Clear").click()

    expect(due_text).to_have_text("No due time set.")
    expect(due_input).to_have_value("")
    assert api.get(f"/tickets/{number}").json()["due_at"] is None


def test_overdue_view_shows_agent_due_time(
    open_desktop: Callable[..., Page], api: httpx.Client, agent: UserInfo
) -> None:
    """A ticket that is overdue only by the due time an agent set shows that due time in
    the queue's due column, not an SLA target."""
    ticket = create_ticket(api, "Contract renewal")
    patched = api.patch(f"/tickets/{ticket['number']}",
                        json={"version": ticket["version"], "due_at": "2026-01-05T09:00:00Z"})
    assert patched.status_code == 200, patched.text
    page = open_desktop(agent, timezone_id=ZONE, locale="en-GB")

    queue = open_queue(page, "overdue")
    badge = ticket_row(queue, ticket["number"]).locator(".tc-sla")

    expect(badge).to_have_attribute("data-state", "breached")
    expect(badge).to_have_attribute("aria-label", re.compile(r"^Due time set by an agent"))
