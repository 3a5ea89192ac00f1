"""TicketCloud's outgoing mail through a running server and a real SMTP server on
127.0.0.1: the confirmation, agents' replies and the rating request, threading, and a
permanent failure shown on the ticket."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, build_workspace
from tests.portal.mail.sink import MailSink, ReceivedMail
from tests.support import Factory, PortalServer

REQUESTER = "requester@example.net"


@pytest.fixture(scope="module")
def mail_factory(mail_server: PortalServer) -> Factory:
    return Factory(mail_server)


@pytest.fixture
def workspace(mail_server: PortalServer, mail_factory: Factory) -> Iterator[ApiWorkspace]:
    built = build_workspace(mail_server, mail_factory)
    yield built
    for client in built.clients.values():
        client.close()


def create_ticket(workspace: ApiWorkspace, *, requester: str = REQUESTER,
                  subject: str = "Printer on fire") -> dict[str, Any]:
    response = workspace.client("agent").post("/tickets", json={
        "subject": subject, "body": "It smokes.", "requester_email": requester,
        "requester_name": "Rita Requester"})
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def from_workspace(workspace: ApiWorkspace) -> str:
    """Return the workspace's default sender. Ticket numbers restart in every workspace,
    so tests tell their mail apart by sender."""
    return f"{workspace.tenant.slug}@localhost"


def wait_for_view(client: httpx.Client, number: int, key: str, *,
                  timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = client.get(f"/tickets/{number}").json()
        if view.get(key):
            return view
        time.sleep(0.1)
    raise TimeoutError(f"ticket #{number} has no {key} after {timeout} s: {view}")


def workspace_mail(sink: MailSink, workspace: ApiWorkspace) -> list[ReceivedMail]:
    return [item for item in sink.messages() if item.sender == from_workspace(workspace)]


def test_confirmation_sent_to_requester(sink: MailSink, workspace: ApiWorkspace,
                                        mail_factory: Factory) -> None:
    ticket = create_ticket(workspace)

    mail = sink.wait_for(lambda item: item.sender == from_workspace(workspace))
    rows = mail_factory.execute(
        "SELECT t.message_id, t.direction, t.ticketcloud_message_id FROM "
        "ticketcloud_mail_thread t JOIN ticketcloud_ticket k ON k.id = t.ticket_id "
        "WHERE k.tenant_id = :tenant AND k.number = :number",
        tenant=workspace.tenant.id, number=ticket["number"])

    assert mail.recipients == [REQUESTER]
    assert str(mail.message["Subject"]) == f"[#{ticket['number']}] Printer on fire"
    assert mail.message["Auto-Submitted"] == "auto-replied"
    assert mail.message["To"].addresses[0].display_name == "Rita Requester"
    assert f"#{ticket['number']}" in mail.body()
    assert rows == [(str(mail.message["Message-ID"]).strip(), "out", None)]


def test_reply_mailed_and_note_never(sink: MailSink, workspace: ApiWorkspace) -> None:
    ticket = create_ticket(workspace)
    number = ticket["number"]
    agent = workspace.client("agent")
    confirmation = sink.wait_for(lambda item: item.sender == from_workspace(workspace))

    note = agent.post(f"/tickets/{number}/notes", json={"body": "Secret internal remark."})
    reply = agent.post(f"/tickets/{number}/replies", json={"body": "Unplug it, please."})
    mail = sink.wait_for(lambda item: item.sender == from_workspace(workspace)
                         and str(item.message["Subject"]).startswith("Re: "))

    assert note.status_code == 201
    assert reply.status_code == 201
    assert mail.recipients == [REQUESTER]
    assert str(mail.message["Subject"]) == f"Re: [#{number}] Printer on fire"
    confirmation_id = str(confirmation.message["Message-ID"]).strip()
    assert str(mail.message["In-Reply-To"]).strip() == confirmation_id
    assert confirmation_id in str(mail.message["References"])
    assert mail.message["Auto-Submitted"] is None
    assert mail.message["From"].addresses[0].display_name == "Agent"
    assert "Unplug it, please." in mail.body()
    assert all("Secret internal remark" not in item.body()
               for item in workspace_mail(sink, workspace))
    assert len(workspace_mail(sink, workspace)) == 2


def test_solve_mails_working_rating_link(sink: MailSink, workspace: ApiWorkspace,
                                         mail_server: PortalServer) -> None:
    ticket = create_ticket(workspace)
    number = ticket["number"]

    response = workspace.client("agent").patch(f"/tickets/{number}", json={
        "version": ticket["version"], "status": "solved"})
    mail = sink.wait_for(lambda item: item.sender == from_workspace(workspace)
                         and str(item.message["Subject"]).startswith("Solved: "))
    link = re.search(r"http://\S+/rate/\S+", mail.body())
    assert link is not None
    page = httpx.get(link.group(), timeout=10)

    assert response.status_code == 200, response.text
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert link.group().startswith(mail_server.base_url +
                                   f"/apps/ticketcloud/public/{workspace.tenant.slug}/rate/")
    assert page.status_code == 200
    assert "Printer on fire" in page.text


def test_rejected_mail_shown_on_ticket(sink: MailSink, workspace: ApiWorkspace,
                                       mail_factory: Factory) -> None:
    address = f"gone-{workspace.tenant.slug}@example.net"
    sink.handler.reject[address] = "550 5.1.1 Mailbox unavailable"
    ticket = create_ticket(workspace, requester=address)
    number = ticket["number"]
    reply = workspace.client("agent").post(f"/tickets/{number}/replies",
                                           json={"body": "Here is the fix."})

    view = wait_for_view(workspace.client("agent"), number, "mail_errors")
    deadline = time.monotonic() + 15
    while len(view["mail_errors"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        view = workspace.client("agent").get(f"/tickets/{number}").json()
    statuses = mail_factory.execute(
        "SELECT status, attempts FROM portal_mail_outbox WHERE tenant_id = :tenant "
        "AND ref = :ref", tenant=workspace.tenant.id, ref=f"ticket:{number}")

    errors = {item["message_id"]: item for item in view["mail_errors"]}
    assert reply.status_code == 201
    assert set(errors) == {None, reply.json()["id"]}
    assert errors[None]["to"] == [address]
    assert "550" in errors[None]["error"]
    assert "Mailbox unavailable" in errors[reply.json()["id"]]["error"]
    assert statuses == [("failed", 1), ("failed", 1)]
    assert [item for item in sink.messages() if address in item.recipients] == []


def test_mail_errors_only_for_agents(sink: MailSink, mail_server: PortalServer,
                                     mail_factory: Factory) -> None:
    workspace = build_workspace(mail_server, mail_factory)
    try:
        customer = workspace.users["customer"]
        sink.handler.reject[customer.email] = "550 5.1.1 No such user"
        created = workspace.client("customer").post("/tickets", json={
            "subject": "Cannot log in", "body": "Help."})
        number = created.json()["number"]
        agent_view = wait_for_view(workspace.client("agent"), number, "mail_errors")
        customer_view = workspace.client("customer").get(f"/tickets/{number}").json()
        other = build_workspace(mail_server, mail_factory)
        try:
            foreign = other.client("agent").get(f"/tickets/{number}")
        finally:
            for client in other.clients.values():
                client.close()
    finally:
        for client in workspace.clients.values():
            client.close()

    assert created.status_code == 201
    assert "550" in agent_view["mail_errors"][0]["error"]
    assert "mail_errors" not in customer_view
    assert foreign.status_code == 404
