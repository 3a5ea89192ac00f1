"""TicketCloud's email channel end to end: real SMTP conversations with a running
portal's listener, and the portal's outgoing mail received by a local SMTP sink."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest

from portal.mail.parse import parse_mail
from tests.apps.ticketcloud.api.conftest import ApiWorkspace, build_workspace
from tests.apps.ticketcloud.mail_samples import customer_mail, delivery_report, out_of_office
from tests.portal.mail.sink import MailSink, ReceivedMail
from tests.support import Factory, PortalServer

CASEY = "casey@customer.example"
COLIN = "colin@customer.example"
WAIT_SECONDS = 20.0


@pytest.fixture
def workspace(mail_server: PortalServer) -> Iterator[ApiWorkspace]:
    built = build_workspace(mail_server, Factory(mail_server))
    response = built.client("admin").put("/settings/mail", json={
        "support_address": support_of(built)})
    assert response.status_code == 200, response.text
    yield built
    for client in built.clients.values():
        client.close()


def support_of(workspace: ApiWorkspace) -> str:
    return f"support@{workspace.tenant.slug}.localhost"


def sender_of(workspace: ApiWorkspace) -> str:
    return f"{workspace.tenant.slug}@localhost"


def send(server: PortalServer, mail: EmailMessage | bytes, recipient: str) -> None:
    async def deliver() -> None:
        if isinstance(mail, bytes):
            await aiosmtplib.send(mail, sender="mailer-daemon@relay.example",
                                  recipients=[recipient], hostname="127.0.0.1",
                                  port=server.smtp_port, timeout=30)
        else:
            await aiosmtplib.send(mail, recipients=[recipient], hostname="127.0.0.1",
                                  port=server.smtp_port, timeout=30)

    asyncio.run(deliver())


def wait_for(check: Callable[[], Any], *, what: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what} not seen within {WAIT_SECONDS} s")


def outcomes(factory: Factory, workspace: ApiWorkspace) -> list[str]:
    rows = factory.execute("SELECT status, outcome FROM portal_mail_inbound WHERE tenant_id = "
                           ":tenant ORDER BY id", tenant=workspace.tenant.id)
    return [str(outcome) for status, outcome in rows if status != "received"]


def wait_outcomes(factory: Factory, workspace: ApiWorkspace, count: int) -> list[str]:
    return wait_for(lambda: (found := outcomes(factory, workspace)) and len(found) >= count
                    and found, what=f"{count} processed messages")  # type: ignore[no-any-return]


def tickets(workspace: ApiWorkspace) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = workspace.client("agent").get("/tickets").json()["items"]
    return items


def ticket_view(workspace: ApiWorkspace, number: int) -> dict[str, Any]:
    view: dict[str, Any] = workspace.client("agent").get(f"/tickets/{number}").json()
    return view


def confirmation_of(sink: MailSink, workspace: ApiWorkspace, number: int) -> ReceivedMail:
    return sink.wait_for(lambda item: item.sender == sender_of(workspace)
                         and str(item.message["Subject"]).startswith(f"[#{number}]"))


def test_reply_to_confirmation_same_ticket(mail_server: PortalServer, sink: MailSink,
                                           workspace: ApiWorkspace) -> None:
    factory = Factory(mail_server)
    send(mail_server, customer_mail(to=support_of(workspace)), support_of(workspace))
    wait_outcomes(factory, workspace, 1)
    confirmation = confirmation_of(sink, workspace, 1)
    reply = customer_mail(
        to=support_of(workspace), subject=f"Re: {confirmation.message['Subject']}",
        body="It still jams.\n\nOn Mon, 3 Mar 2025, Support wrote:\n> We received it.\n",
        in_reply_to=str(confirmation.message["Message-ID"]),
        references=[str(confirmation.message["Message-ID"])])

    send(mail_server, reply, support_of(workspace))
    found = wait_outcomes(factory, workspace, 2)
    view = ticket_view(workspace, 1)

    assert found == ["created ticket #1", "added to ticket #1"]
    assert len(tickets(workspace)) == 1
    assert [item["body"] for item in view["messages"]] == ["The printer on floor 2 jams.",
                                                          "It still jams."]
    assert view["messages"][1]["mail"]["quoted_text"].startswith("On Mon, 3 Mar 2025")
    assert view["requester"]["email"] == CASEY


def test_cc_colleague_receives_agent_reply(mail_server: PortalServer, sink: MailSink,
                                           workspace: ApiWorkspace) -> None:
    factory = Factory(mail_server)
    send(mail_server, customer_mail(to=support_of(workspace), cc=[f"Colin <{COLIN}>"]),
         support_of(workspace))
    wait_outcomes(factory, workspace, 1)

    response = workspace.client("agent").post("/tickets/1/replies",
                                              json={"body": "Try a new toner."})
    mail = sink.wait_for(lambda item: item.sender == sender_of(workspace)
                         and str(item.message["Subject"]).startswith("Re: [#1]"))
    view = ticket_view(workspace, 1)

    assert response.status_code == 201, response.text
    assert sorted(mail.recipients) == [CASEY, COLIN]
    assert [address.addr_spec for address in mail.message["Cc"].addresses] == [COLIN]
    assert view["participants"] == [{"email": COLIN, "name": "Colin"}]


def test_agent_reply_carries_attachment(mail_server: PortalServer, sink: MailSink,
                                        workspace: ApiWorkspace) -> None:
    factory = Factory(mail_server)
    send(mail_server, customer_mail(to=support_of(workspace)), support_of(workspace))
    wait_outcomes(factory, workspace, 1)

    response = workspace.client("agent").post(
        "/tickets/1/attachments", data={"body": "The driver is attached."},
        files={"file": ("driver.txt", b"driver bytes", "text/plain")})
    mail = sink.wait_for(lambda item: item.sender == sender_of(workspace)
                         and str(item.message["Subject"]).startswith("Re: [#1]"))
    attached = list(mail.message.iter_attachments())

    assert response.status_code == 201, response.text
    assert [part.get_filename() for part in attached] == ["driver.txt"]
    assert attached[0].get_content() == "driver bytes"


def test_bounce_marks_bouncing_without_ticket(mail_server: PortalServer, sink: MailSink,
                                              workspace: ApiWorkspace) -> None:
    factory = Factory(mail_server)
    send(mail_server, customer_mail(to=support_of(workspace)), support_of(workspace))
    wait_outcomes(factory, workspace, 1)
    confirmation = confirmation_of(sink, workspace, 1)

    send(mail_server, delivery_report(to=support_of(workspace), failed=CASEY,
                                      original_message_id=str(
                                          confirmation.message["Message-ID"])),
         support_of(workspace))
    found = wait_outcomes(factory, workspace, 2)
    view = ticket_view(workspace, 1)

    assert found[1] == f"bounce recorded on ticket #1: {CASEY}"
    assert len(tickets(workspace)) == 1
    assert [item["email"] for item in view["bouncing"]] == [CASEY]


def test_agent_reply_answers_people_not_automatic_mail(
        mail_server: PortalServer, sink: MailSink, workspace: ApiWorkspace) -> None:
    """After a bounce and an out-of-office reply, an agent's reply still refers to the
    customer's thread, not to the automatic mail, and its Reply-To is the support
    address."""
    factory = Factory(mail_server)
    send(mail_server, customer_mail(to=support_of(workspace), cc=[f"Colin <{COLIN}>"]),
         support_of(workspace))
    wait_outcomes(factory, workspace, 1)
    confirmation = confirmation_of(sink, workspace, 1)
    confirmation_id = str(confirmation.message["Message-ID"])
    away = out_of_office(to=support_of(workspace), sender=CASEY, in_reply_to=confirmation_id)
    bounce = delivery_report(to=support_of(workspace), failed=CASEY,
                             original_message_id=confirmation_id)
    send(mail_server, away, support_of(workspace))
    send(mail_server, bounce, support_of(workspace))
    wait_outcomes(factory, workspace, 3)

    response = workspace.client("agent").post("/tickets/1/replies",
                                              json={"body": "Try a new toner."})
    reply = sink.wait_for(lambda item: item.sender == sender_of(workspace)
                          and str(item.message["Subject"]).startswith("Re: [#1]"))

    assert response.status_code == 201, response.text
    references = str(reply.message["References"]).split()
    assert str(reply.message["In-Reply-To"]) == confirmation_id
    assert references[-1] == confirmation_id
    assert str(away["Message-ID"]) not in references
    assert parse_mail(bounce).message_id not in references
    assert str(confirmation.message["Reply-To"]) == support_of(workspace)
    assert str(reply.message["Reply-To"]) == support_of(workspace)


def test_duplicate_delivery_one_message(mail_server: PortalServer,
                                        workspace: ApiWorkspace) -> None:
    factory = Factory(mail_server)
    mail = customer_mail(to=support_of(workspace))

    send(mail_server, mail, support_of(workspace))
    send(mail_server, mail, support_of(workspace))
    wait_outcomes(factory, workspace, 1)

    assert len(tickets(workspace)) == 1
    assert len(ticket_view(workspace, 1)["messages"]) == 1


def test_out_of_office_no_status_change(mail_server: PortalServer, sink: MailSink,
                                        workspace: ApiWorkspace) -> None:
    factory = Factory(mail_server)
    send(mail_server, customer_mail(to=support_of(workspace)), support_of(workspace))
    wait_outcomes(factory, workspace, 1)
    confirmation = confirmation_of(sink, workspace, 1)
    before = ticket_view(workspace, 1)

    send(mail_server, out_of_office(to=support_of(workspace), sender=CASEY,
                                    in_reply_to=str(confirmation.message["Message-ID"])),
         support_of(workspace))
    found = wait_outcomes(factory, workspace, 2)
    after = ticket_view(workspace, 1)

    assert found[1].endswith("noted on ticket #1")
    assert after["status"] == before["status"]
    assert len(after["messages"]) == 1
    assert after["history"][-1]["field"] == "auto_reply"
