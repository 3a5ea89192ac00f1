"""SLA in the desktop: a target that passes while the assignee works becomes a breach
toast, and the queue's badge and overdue view follow it live.

The test runs its own server with the SLA scanner every second
(`--job-interval ticketcloud.sla_scan=1`), so a breach shows within seconds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update
from sqlmodel import col, select

from portal.db import Database
from portal.models import Role
from tests.browser.desktop import open_window, wait_for_app_page
from tests.browser.threaded_factory import ThreadedFactory
from tests.support import PortalServer, start_server, stop_server
from ticketcloud.models import SlaTarget, TargetState, Ticket

pytestmark = pytest.mark.browser

API = "/apps/ticketcloud/api/v1"
# The breach must reach the desktop within this long after the due time: the scanner
# runs every second, plus the socket and the toast.
MAX_BREACH_DELAY_S = 8.0


@pytest.fixture(scope="module")
def fast_scan_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    server = start_server(tmp_path_factory.mktemp("sla-portal"), seed_demo=False,
                          env={"MIPORTAL_JOB_INTERVALS": "ticketcloud.sla_scan=1"})
    yield server
    stop_server(server)


def due_in(server: PortalServer, tenant_id: int, number: int, seconds: float) -> datetime:
    """Move the ticket's running targets so they fall due `seconds` from now, as if the
    policy's minutes had nearly passed. The warning falls one second earlier. Return
    the due time."""
    due = datetime.now(UTC) + timedelta(seconds=seconds)

    async def change(db: Database) -> None:
        async with db.transaction() as session:
            ticket_id = (await session.exec(select(Ticket.id).where(
                Ticket.tenant_id == tenant_id, Ticket.number == number))).one()
            await session.exec(update(SlaTarget)
                               .where(col(SlaTarget.ticket_id) == ticket_id,
                                      col(SlaTarget.state) == TargetState.RUNNING)
                               .values(due_at=due, warn_at=due - timedelta(seconds=1)))

    ThreadedFactory(server)._run(change)  # type: ignore[no-untyped-call]
    return due


def test_breach_toast_reaches_assignee(fast_scan_server: PortalServer,
                                       open_desktop: Callable[..., Page]) -> None:
    factory = ThreadedFactory(fast_scan_server)
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    admin = factory.user(tenant, Role.ADMIN, name="Ada Admin")
    agent = factory.user(tenant, Role.AGENT, name="Sam Agent")
    with httpx.Client(base_url=fast_scan_server.base_url + API, timeout=10,
                      headers={"Authorization": f"Bearer {factory.api_token(admin)}"}) as api:
        policy = api.post("/sla/policies", json={"name": "Tiny", "first_response_minutes": 60,
                                                 "warning_percent": 50})
        assert policy.status_code == 201, policy.text
        ticket = api.post("/tickets", json={
            "subject": "Server room is flooding", "body": "Water everywhere.",
            "requester_email": "carla@customer.example"}).json()
        assigned = api.patch(f"/tickets/{ticket['number']}",
                             json={"assignee_id": agent.id, "version": ticket["version"]})
        assert assigned.status_code == 200, assigned.text
    number = ticket["number"]

    page = open_desktop(agent, portal=fast_scan_server)
    queue = open_window(page, "ticketcloud", "queue")
    wait_for_app_page(page, queue, "[data-view='mine']")
    frame = queue.frame_locator("iframe.mp-window-frame")
    badge = frame.locator(f"tr[data-number='{number}'] .tc-sla")
    expect(badge).to_have_attribute("data-state", "ok")
    expect(badge).to_have_attribute("aria-label", re.compile(r"^First response due in 59m, at "))

    due = due_in(fast_scan_server, tenant.id, number, seconds=3)
    breach = page.locator(".mp-toast", has_text="SLA breached")
    expect(breach).to_have_count(1, timeout=MAX_BREACH_DELAY_S * 1000 + 3000)
    delay = time.time() - due.timestamp()

    assert delay < MAX_BREACH_DELAY_S
    expect(breach.locator(".mp-toast-title")).to_have_text(f"SLA breached on ticket #{number}")
    expect(breach.locator(".mp-toast-body")).to_have_text(
        "First response is overdue: Server room is flooding")
    expect(badge).to_have_attribute("data-state", "breached")
    expect(badge).to_have_class("tc-sla tc-sla-breached")

    frame.locator("[data-view='overdue']").click()
    expect(frame.locator("tr[data-number]")).to_have_count(1)
    expect(frame.locator(f"tr[data-number='{number}']")).to_have_count(1)
