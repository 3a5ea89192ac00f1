"""Mail that an agent sends from their own mail program onto a ticket: real SMTP
conversations with a running portal's listener, and the portal's outgoing mail
received by a local SMTP sink."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, build_workspace
from tests.apps.ticketcloud.mail_samples import customer_mail
from tests.apps.ticketcloud.test_mail_conversation import (
    confirmation_of,
    send,
    sender_of,
    support_of,
    ticket_view,
    wait_outcomes,
)
from tests.portal.mail.sink import MailSink, ReceivedMail
from tests.support import Factory, PortalServer, signed_in

AGENT_TEXT = "Please restart the printer, then try again."


@pytest.fixture
def workspace(mail_server: PortalServer) -> Iterator[ApiWorkspace]:
    """A workspace that receives mail and trusts the Authentication-Results headers of
    `trusted_of(workspace)`."""
    built = build_workspace(mail_server, Factory(mail_server))
    response = built.client("admin").put(
        "/settings/mail",
        json={"support_address": support_of(built), "trusted_authserv_id": trusted_of(built)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["trusted_authserv_id"] == trusted_of(built)
    yield built
    for client in built.clients.values():
        client.close()


def trusted_of(workspace: ApiWorkspace) -> str:
    return f"mx.{workspace.tenant.slug}.example"


def agent_email(workspace: ApiWorkspace) -> str:
    return workspace.users["agent"].email


def customer_email(workspace: ApiWorkspace) -> str:
    return workspace.users["customer"].email


def agent_domain(workspace: ApiWorkspace) -> str:
    return agent_email(workspace).rpartition("@")[2]


def open_by_mail(server: PortalServer, sink: MailSink, workspace: ApiWorkspace) -> ReceivedMail:
    """Open ticket #1 by the customer's mail and return its confirmation."""
    send(
        server,
        customer_mail(to=support_of(workspace), sender=customer_email(workspace)),
        support_of(workspace),
    )
    assert wait_outcomes(Factory(server), workspace, 1) == ["created ticket #1"]
    return confirmation_of(sink, workspace, 1)


def send_agent_reply(
    server: PortalServer,
    workspace: ApiWorkspace,
    confirmation: ReceivedMail,
    *,
    results: str | None,
    cc: list[str] | None = None,
    to: str | None = None,
) -> str:
    """Send the agent's reply to the confirmation through the listener, as the agent's
    mail program would, and return the outcome."""
    mail = customer_mail(
        to=to or support_of(workspace),
        sender=agent_email(workspace),
        name="Agent",
        subject=f"Re: {confirmation.message['Subject']}",
        body=AGENT_TEXT,
        cc=cc,
        in_reply_to=str(confirmation.message["Message-ID"]),
        headers={"Authentication-Results": results} if results else None,
    )
    before = len(processed(server, workspace))
    send(server, mail, support_of(workspace))
    return wait_outcomes(Factory(server), workspace, before + 1)[before]


def processed(server: PortalServer, workspace: ApiWorkspace) -> list[Any]:
    return Factory(server).execute(
        "SELECT id FROM portal_mail_inbound WHERE tenant_id = :tenant AND status != 'received'",
        tenant=workspace.tenant.id,
    )


def outbox_rows(server: PortalServer, workspace: ApiWorkspace) -> list[str]:
    """Return the recipients of each outbox row of ticket #1, oldest first."""
    rows = Factory(server).execute(
        "SELECT envelope_to FROM portal_mail_outbox WHERE tenant_id = :tenant AND ref = "
        "'ticket:1' ORDER BY id",
        tenant=workspace.tenant.id,
    )
    return [str(row[0]) for row in rows]


def dkim_pass(workspace: ApiWorkspace, authserv_id: str | None = None) -> str:
    return (
        f"{authserv_id or trusted_of(workspace)}; dkim=pass (good signature) "
        f"header.d={agent_domain(workspace)}"
    )


def solve(workspace: ApiWorkspace, number: int) -> None:
    view = ticket_view(workspace, number)
    response = workspace.client("agent").patch(
        f"/tickets/{number}", json={"status": "solved", "version": view["version"]}
    )
    assert response.status_code == 200, response.text


def test_verified_reply_public_and_mailed_once(
    mail_server: PortalServer, sink: MailSink, workspace: ApiWorkspace
) -> None:
    confirmation = open_by_mail(mail_server, sink, workspace)

    outcome = send_agent_reply(mail_server, workspace, confirmation, results=dkim_pass(workspace))
    copy = sink.wait_for(
        lambda item: item.sender == sender_of(workspace) and AGENT_TEXT in item.body()
    )
    view = ticket_view(workspace, 1)
    reply = view["messages"][1]

    assert outcome == f"public reply by agent {agent_email(workspace)} on ticket #1"
    assert reply["visibility"] == "public"
    assert reply["from_agent"] is True
    assert reply["author_user_id"] == workspace.user_id("agent")
    assert reply["body"] == AGENT_TEXT
    assert view["status"] == "open"
    assert view["first_response_at"] is not None
    assert view["participants"] == []
    assert copy.recipients == [customer_email(workspace)]
    assert outbox_rows(mail_server, workspace) == [customer_email(workspace)] * 2
    assert [
        item
        for item in sink.messages()
        if item.sender == sender_of(workspace) and AGENT_TEXT in item.body()
    ] == [copy]


def test_verified_reply_customer_in_cc_not_mailed(
    mail_server: PortalServer, sink: MailSink, workspace: ApiWorkspace
) -> None:
    confirmation = open_by_mail(mail_server, sink, workspace)

    outcome = send_agent_reply(
        mail_server,
        workspace,
        confirmation,
        results=dkim_pass(workspace),
        cc=[customer_email(workspace)],
    )
    view = ticket_view(workspace, 1)

    assert outcome.startswith("public reply by agent")
    assert view["messages"][1]["visibility"] == "public"
    # Only the confirmation: the customer got the agent's own mail directly.
    assert outbox_rows(mail_server, workspace) == [customer_email(workspace)]
    assert view["participants"] == []


def test_unverified_reply_internal_note(
    mail_server: PortalServer, sink: MailSink, workspace: ApiWorkspace
) -> None:
    confirmation = open_by_mail(mail_server, sink, workspace)

    outcome = send_agent_reply(mail_server, workspace, confirmation, results=None)
    view = ticket_view(workspace, 1)
    note = view["messages"][1]
    customer_json = workspace.client("customer").get("/tickets/1")
    with signed_in(mail_server, workspace.users["customer"]) as client:
        customer_page = client.get("/apps/ticketcloud/my/1")

    assert outcome == (
        f"internal note by agent {agent_email(workspace)} on ticket #1: sender not verified"
    )
    assert note["visibility"] == "internal"
    assert note["from_agent"] is True
    assert note["author_user_id"] == workspace.user_id("agent")
    assert note["body"].startswith(
        f"[Received by email from the agent's address {agent_email(workspace)}; not verified"
    )
    assert note["body"].endswith(AGENT_TEXT)
    assert view["status"] == "new"
    assert view["first_response_at"] is None
    assert outbox_rows(mail_server, workspace) == [customer_email(workspace)]
    assert customer_json.status_code == 200, customer_json.text
    assert len(customer_json.json()["messages"]) == 1
    assert AGENT_TEXT not in customer_json.text
    assert customer_page.status_code == 200, customer_page.text
    assert "The printer on floor 2 jams." in customer_page.text
    assert AGENT_TEXT not in customer_page.text
    assert "not verified" not in customer_page.text


def test_forged_authserv_id_untrusted(
    mail_server: PortalServer, sink: MailSink, workspace: ApiWorkspace
) -> None:
    confirmation = open_by_mail(mail_server, sink, workspace)

    outcome = send_agent_reply(
        mail_server, workspace, confirmation, results=dkim_pass(workspace, "mx.forger.example")
    )
    note = ticket_view(workspace, 1)["messages"][1]

    assert outcome.endswith("sender not verified")
    assert note["visibility"] == "internal"
    assert f"no Authentication-Results header from {trusted_of(workspace)}" in note["body"]
    assert outbox_rows(mail_server, workspace) == [customer_email(workspace)]


@pytest.mark.parametrize("verified", [True, False])
def test_agent_reply_keeps_solved_ticket(
    mail_server: PortalServer, sink: MailSink, workspace: ApiWorkspace, verified: bool
) -> None:
    confirmation = open_by_mail(mail_server, sink, workspace)
    solve(workspace, 1)
    solved = ticket_view(workspace, 1)

    send_agent_reply(
        mail_server, workspace, confirmation, results=dkim_pass(workspace) if verified else None
    )
    view = ticket_view(workspace, 1)

    assert view["status"] == "solved"
    assert view["solved_at"] == solved["solved_at"]
    assert view["messages"][-1]["from_agent"] is True
    assert [entry["field"] for entry in view["history"]] == [
        entry["field"] for entry in solved["history"]
    ]


def test_agent_mail_inactive_agent_is_customer(
    mail_server: PortalServer, sink: MailSink, workspace: ApiWorkspace
) -> None:
    confirmation = open_by_mail(mail_server, sink, workspace)
    Factory(mail_server).execute(
        "UPDATE portal_user SET is_active = :off WHERE id = :id",
        off=False,
        id=workspace.user_id("agent"),
    )

    outcome = send_agent_reply(mail_server, workspace, confirmation, results=dkim_pass(workspace))
    # The view comes from another agent, because the inactive one may not sign in.
    reply = workspace.client("agent2").get("/tickets/1").json()["messages"][1]

    assert outcome == "added to ticket #1"
    assert reply["from_agent"] is False


def test_mail_settings_reject_bad_authserv_id(workspace: ApiWorkspace) -> None:
    client: httpx.Client = workspace.client("admin")

    response = client.put(
        "/settings/mail",
        json={"support_address": support_of(workspace), "trusted_authserv_id": "mx; evil"},
    )
    kept = client.get("/settings/mail").json()
    forbidden = workspace.client("agent").put(
        "/settings/mail", json={"support_address": support_of(workspace), "trusted_authserv_id": ""}
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "trusted_authserv_id"
    assert kept["trusted_authserv_id"] == trusted_of(workspace)
    assert forbidden.status_code == 403
