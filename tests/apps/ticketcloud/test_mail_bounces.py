"""Bouncing addresses of a ticket: ticket mail skips them with a visible line, an agent
can clear the mark, and mail from the address clears it. Real SMTP conversations with a
running portal's listener, and its outgoing mail received by a local SMTP sink."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.apps.ticketcloud.api.conftest import ApiWorkspace, build_workspace
from tests.apps.ticketcloud.mail_samples import customer_mail, delivery_report
from tests.apps.ticketcloud.test_mail_conversation import (
    CASEY,
    COLIN,
    confirmation_of,
    send,
    sender_of,
    support_of,
    ticket_view,
    wait_outcomes,
)
from tests.portal.mail.sink import MailSink, ReceivedMail
from tests.support import Factory, PortalServer


def open_workspace(server: PortalServer) -> ApiWorkspace:
    built = build_workspace(server, Factory(server))
    response = built.client("admin").put(
        "/settings/mail", json={"support_address": support_of(built)}
    )
    assert response.status_code == 200, response.text
    return built


@pytest.fixture
def workspace(mail_server: PortalServer) -> Iterator[ApiWorkspace]:
    built = open_workspace(mail_server)
    yield built
    for client in built.clients.values():
        client.close()


@pytest.fixture
def other_workspace(mail_server: PortalServer) -> Iterator[ApiWorkspace]:
    built = open_workspace(mail_server)
    yield built
    for client in built.clients.values():
        client.close()


def open_bounced(
    server: PortalServer, sink: MailSink, workspace: ApiWorkspace, *, cc: list[str] | None = None
) -> ReceivedMail:
    """Open ticket #1 by Casey's mail, bounce its confirmation for Casey, and return the
    confirmation."""
    send(server, customer_mail(to=support_of(workspace), cc=cc), support_of(workspace))
    wait_outcomes(Factory(server), workspace, 1)
    confirmation = confirmation_of(sink, workspace, 1)
    send(
        server,
        delivery_report(
            to=support_of(workspace),
            failed=CASEY,
            original_message_id=str(confirmation.message["Message-ID"]),
        ),
        support_of(workspace),
    )
    found = wait_outcomes(Factory(server), workspace, 2)
    assert found[1] == f"bounce recorded on ticket #1: {CASEY}"
    return confirmation


def outbox_rows(server: PortalServer, workspace: ApiWorkspace) -> list[str]:
    """Return the recipients of each outbox row of ticket #1, oldest first."""
    rows = Factory(server).execute(
        "SELECT envelope_to FROM portal_mail_outbox WHERE tenant_id = :tenant AND ref = "
        "'ticket:1' ORDER BY id",
        tenant=workspace.tenant.id,
    )
    return [str(row[0]) for row in rows]


def reply(workspace: ApiWorkspace, body: str) -> dict[str, Any]:
    response = workspace.client("agent").post("/tickets/1/replies", json={"body": body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def clear(workspace: ApiWorkspace, role: str, email: str = CASEY) -> Any:
    return workspace.client(role).post("/tickets/1/bouncing/clear", json={"email": email})


def test_bouncing_requester_skipped_cc_mailed(
    mail_server: PortalServer, sink: MailSink, workspace: ApiWorkspace
) -> None:
    open_bounced(mail_server, sink, workspace, cc=[f"Colin <{COLIN}>"])

    message = reply(workspace, "Here is the new driver.")
    mail = sink.wait_for(
        lambda item: (
            item.sender == sender_of(workspace) and "Here is the new driver." in item.body()
        )
    )
    view = ticket_view(workspace, 1)

    assert mail.recipients == [COLIN]
    assert [address.addr_spec for address in mail.message["To"].addresses] == [COLIN]
    assert outbox_rows(mail_server, workspace) == [CASEY, COLIN]
    assert [(item["message_id"], item["email"]) for item in view["mail_skipped"]] == [
        (message["id"], CASEY)
    ]
    assert view["mail_skipped"][0]["bounced_at"] == view["bouncing"][0]["created_at"]


def test_all_recipients_bouncing_no_outbox_row(
    mail_server: PortalServer, sink: MailSink, workspace: ApiWorkspace
) -> None:
    open_bounced(mail_server, sink, workspace)

    message = reply(workspace, "Nobody will get this.")
    view = ticket_view(workspace, 1)
    solve = workspace.client("agent").patch(
        "/tickets/1", json={"status": "solved", "version": view["version"]}
    )
    after = ticket_view(workspace, 1)

    assert outbox_rows(mail_server, workspace) == [CASEY]
    assert [(item["message_id"], item["email"]) for item in view["mail_skipped"]] == [
        (message["id"], CASEY)
    ]
    # The rating request of the solved ticket carries no message, so its line is the
    # ticket's.
    assert solve.status_code == 200, solve.text
    assert outbox_rows(mail_server, workspace) == [CASEY]
    assert [(item["message_id"], item["email"]) for item in after["mail_skipped"]] == [
        (message["id"], CASEY),
        (None, CASEY),
    ]


def test_clear_bouncing_roles_and_tenants(
    mail_server: PortalServer,
    sink: MailSink,
    workspace: ApiWorkspace,
    other_workspace: ApiWorkspace,
) -> None:
    open_bounced(mail_server, sink, workspace)

    as_customer = clear(workspace, "customer")
    as_other_agent = clear(other_workspace, "agent")
    still = ticket_view(workspace, 1)
    unknown = clear(workspace, "agent", "nobody@customer.example")
    invalid = clear(workspace, "agent", "")
    cleared = clear(workspace, "agent", CASEY.upper())
    again = clear(workspace, "agent")
    view = ticket_view(workspace, 1)
    reply(workspace, "Does this arrive now?")
    mail = sink.wait_for(
        lambda item: item.sender == sender_of(workspace) and "Does this arrive now?" in item.body()
    )

    assert as_customer.status_code == 403, as_customer.text
    assert as_other_agent.status_code == 404, as_other_agent.text
    assert [item["email"] for item in still["bouncing"]] == [CASEY]
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"]["field"] == "email"
    assert invalid.status_code == 422, invalid.text
    assert cleared.status_code == 200, cleared.text
    assert cleared.json() == {"email": CASEY}
    assert again.status_code == 404, again.text
    assert view["bouncing"] == []
    assert view["history"][-1]["field"] == "mail_bounce"
    assert view["history"][-1]["old"] == CASEY
    assert view["history"][-1]["actor_user_id"] == workspace.user_id("agent")
    assert mail.recipients == [CASEY]


def test_inbound_mail_clears_bouncing(
    mail_server: PortalServer, sink: MailSink, workspace: ApiWorkspace
) -> None:
    confirmation = open_bounced(mail_server, sink, workspace)

    send(
        mail_server,
        customer_mail(
            to=support_of(workspace),
            subject=f"Re: {confirmation.message['Subject']}",
            body="My mailbox works again.",
            in_reply_to=str(confirmation.message["Message-ID"]),
        ),
        support_of(workspace),
    )
    found = wait_outcomes(Factory(mail_server), workspace, 3)
    view = ticket_view(workspace, 1)
    entry = next(
        item for item in view["history"] if item["field"] == "mail_bounce" and item["old"] == CASEY
    )

    assert found[2] == "added to ticket #1"
    assert view["bouncing"] == []
    assert entry["actor_user_id"] is None
    assert entry["reason"] == f"Mail from {CASEY} arrived, so the address works again"


def test_unmailable_requester_recorded(mail_server: PortalServer,
                                       workspace: ApiWorkspace) -> None:
    """A requester address the outbox cannot send to (not ASCII) gets no confirmation,
    and the ticket shows why instead of leaving only a server log line."""
    response = workspace.client("agent").post("/tickets", json={
        "subject": "Printer", "body": "It jams.", "requester_email": "jörg@example.com"})
    assert response.status_code == 201, response.text

    view = ticket_view(workspace, response.json()["number"])

    assert outbox_rows(mail_server, workspace) == []
    assert [(item["message_id"], item["email"], item["reason"], item["bounced_at"])
            for item in view["mail_skipped"]] == [(None, "jörg@example.com", "unmailable", None)]
    # The create response lists the skip too, as the ticket read afterwards does.
    assert response.json()["mail_skipped"] == view["mail_skipped"]



def test_unmailable_cc_skipped_requester_mailed(
    mail_server: PortalServer, sink: MailSink, workspace: ApiWorkspace
) -> None:
    # UTF-8 in the header itself, as SMTPUTF8 mail carries a non-ASCII address.
    raw = (f"From: Casey Customer <{CASEY}>\r\nTo: {support_of(workspace)}\r\n"
           "Cc: Jörg <jörg@example.com>\r\nSubject: Printer broken\r\n"
           "Message-ID: <utf8-cc@customer.example>\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\nThe printer jams.\r\n").encode()
    send(mail_server, raw, support_of(workspace))
    wait_outcomes(Factory(mail_server), workspace, 1)

    message = reply(workspace, "Here is the new driver.")
    mail = sink.wait_for(
        lambda item: (
            item.sender == sender_of(workspace) and "Here is the new driver." in item.body()
        )
    )
    view = ticket_view(workspace, 1)

    assert [item["email"] for item in view["participants"]] == ["jörg@example.com"]
    assert mail.recipients == [CASEY]
    assert [(item["message_id"], item["email"], item["reason"], item["bounced_at"])
            for item in view["mail_skipped"]] == [
        (message["id"], "jörg@example.com", "unmailable", None)]
