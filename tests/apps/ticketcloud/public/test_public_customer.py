"""The customer portal over HTTP: own tickets only, the public conversation only, replies
that reopen, attachments and the signed-in rating page."""

from __future__ import annotations

import re

import httpx

from portal.models import Role
from tests.apps.ticketcloud.public.conftest import (
    Helpdesk,
    ServerDomain,
    created_number,
    csrf_field,
    form_action,
    submit_form,
    valid_fields,
)
from tests.support import Factory, PortalServer, UserInfo, signed_in


def open_ticket(server: PortalServer, desk: Helpdesk, customer: UserInfo, *,
                subject: str = "Printer on fire",
                files: list[tuple[str, bytes, str]] | None = None) -> int:
    """Send the web form as `customer` (not signed in) and return the ticket number."""
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        response = submit_form(client, desk, valid_fields(customer.email, subject=subject),
                               files=files or [])
    return created_number(response)


def send_reply(client: httpx.Client, number: int, message: str) -> httpx.Response:
    page = client.get(f"/apps/ticketcloud/my/{number}")
    assert page.status_code == 200, page.text
    return client.post(form_action(page), data={"csrf_token": csrf_field(page),
                                                "message": message},
                       files=[("attachments", ("", b"", "application/octet-stream"))])


def ticket_status(factory: Factory, desk: Helpdesk, number: int) -> str:
    rows = factory.execute("SELECT status FROM ticketcloud_ticket WHERE tenant_id = :t AND "
                           "number = :n", t=desk.tenant.id, n=number)
    return str(rows[0][0])


def test_home_links_my_tickets(server: PortalServer, helpdesk: Helpdesk,
                               factory: Factory) -> None:
    customer = factory.user(helpdesk.tenant, Role.CUSTOMER)

    with signed_in(server, customer) as client:
        home = client.get("/")

    assert '<a href="/apps/ticketcloud/my">My tickets</a>' in home.text


def test_my_tickets_lists_only_own(server: PortalServer, helpdesk: Helpdesk,
                                   factory: Factory) -> None:
    alice = factory.user(helpdesk.tenant, Role.CUSTOMER, name="Alice")
    bob = factory.user(helpdesk.tenant, Role.CUSTOMER, name="Bob")
    own = open_ticket(server, helpdesk, alice, subject="Alice's printer")
    other = open_ticket(server, helpdesk, bob, subject="Bob's secret")

    with signed_in(server, alice) as client:
        listing = client.get("/apps/ticketcloud/my")
        own_page = client.get(f"/apps/ticketcloud/my/{own}")
        other_page = client.get(f"/apps/ticketcloud/my/{other}")
        missing_page = client.get("/apps/ticketcloud/my/99999")

    assert listing.status_code == 200
    assert f'<a href="/apps/ticketcloud/my/{own}">Alice&#39;s printer</a>' in listing.text
    assert '<span class="status status-open">Open</span>' in listing.text
    assert "Bob" not in listing.text
    assert own_page.status_code == 200
    assert other_page.status_code == 404
    assert "Bob" not in other_page.text
    assert f"Ticket #{other} was not found among your tickets." in other_page.text
    assert missing_page.status_code == 404


def test_my_ticket_hides_internal_notes(server: PortalServer, helpdesk: Helpdesk,
                                        factory: Factory, domain: ServerDomain) -> None:
    customer = factory.user(helpdesk.tenant, Role.CUSTOMER)
    number = open_ticket(server, helpdesk, customer)
    domain.reply(helpdesk, number, "Internal: customer is on the old plan.",
                 visibility="internal")
    domain.reply(helpdesk, number, "We sent a technician.", visibility="public")

    with signed_in(server, customer) as client:
        page = client.get(f"/apps/ticketcloud/my/{number}")

    assert page.status_code == 200
    assert "We sent a technician." in page.text
    assert "Internal: customer is on the old plan." not in page.text
    assert helpdesk.agent.email not in page.text
    assert "The office printer smokes when printing." in page.text


def test_my_pages_need_customer_role(server: PortalServer, helpdesk: Helpdesk) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
        redirect = anonymous.get("/apps/ticketcloud/my", headers={"accept": "text/html"})
    with signed_in(server, helpdesk.agent) as agent:
        forbidden = agent.get("/apps/ticketcloud/my")

    assert redirect.status_code == 303
    assert redirect.headers["location"].startswith("/login?next=/apps/ticketcloud/my")
    assert forbidden.status_code == 403


def test_reply_adds_public_message(server: PortalServer, helpdesk: Helpdesk,
                                   factory: Factory) -> None:
    customer = factory.user(helpdesk.tenant, Role.CUSTOMER)
    number = open_ticket(server, helpdesk, customer)

    with signed_in(server, customer) as client:
        response = send_reply(client, number, "It still smokes <b>a lot</b>.")
        page = client.get(f"/apps/ticketcloud/my/{number}")

    assert response.status_code == 303
    assert response.headers["location"] == f"/apps/ticketcloud/my/{number}"
    assert "It still smokes &lt;b&gt;a lot&lt;/b&gt;." in page.text
    assert factory.execute(
        "SELECT count(*) FROM ticketcloud_message m JOIN ticketcloud_ticket t ON "
        "t.id = m.ticket_id WHERE t.tenant_id = :t AND t.number = :n", t=helpdesk.tenant.id,
        n=number) == [(2,)]


def test_reply_empty_message_rejected(server: PortalServer, helpdesk: Helpdesk,
                                      factory: Factory) -> None:
    customer = factory.user(helpdesk.tenant, Role.CUSTOMER)
    number = open_ticket(server, helpdesk, customer)

    with signed_in(server, customer) as client:
        response = send_reply(client, number, "   ")

    assert response.status_code == 422
    assert ('<p class="field-error" id="message-error">Write what you need help with.</p>'
            in response.text)


def test_reply_reopens_solved_ticket(server: PortalServer, helpdesk: Helpdesk,
                                     factory: Factory, domain: ServerDomain) -> None:
    customer = factory.user(helpdesk.tenant, Role.CUSTOMER)
    number = open_ticket(server, helpdesk, customer)
    domain.solve(helpdesk, number)

    with signed_in(server, customer) as client:
        solved_page = client.get(f"/apps/ticketcloud/my/{number}")
        response = send_reply(client, number, "Sorry, it broke again.")
        reopened_page = client.get(f"/apps/ticketcloud/my/{number}")

    assert "Replying reopens this ticket." in solved_page.text
    assert f'href="/apps/ticketcloud/my/{number}/rate"' in solved_page.text
    assert response.status_code == 303
    assert ticket_status(factory, helpdesk, number) == "open"
    assert '<span class="status status-open">Status: Open</span>' in reopened_page.text
    assert f"/my/{number}/rate" not in reopened_page.text


def test_reply_to_another_customers_ticket_not_found(
        server: PortalServer, helpdesk: Helpdesk, factory: Factory) -> None:
    alice = factory.user(helpdesk.tenant, Role.CUSTOMER)
    bob = factory.user(helpdesk.tenant, Role.CUSTOMER)
    own = open_ticket(server, helpdesk, alice)
    other = open_ticket(server, helpdesk, bob)

    with signed_in(server, alice) as client:
        page = client.get(f"/apps/ticketcloud/my/{own}")
        response = client.post(f"/apps/ticketcloud/my/{other}/reply",
                               params={"csrf_token": csrf_field(page)},
                               data={"message": "Let me in."},
                               files=[("attachments", ("", b"", "application/octet-stream"))])

    assert response.status_code == 404
    assert factory.execute("SELECT count(*) FROM ticketcloud_message WHERE body = :b",
                           b="Let me in.") == [(0,)]


def test_attachment_download_own_only(server: PortalServer, helpdesk: Helpdesk,
                                      factory: Factory) -> None:
    alice = factory.user(helpdesk.tenant, Role.CUSTOMER)
    bob = factory.user(helpdesk.tenant, Role.CUSTOMER)
    number = open_ticket(server, helpdesk, alice,
                         files=[("page.html", b"<script>alert(1)</script>", "text/html")])

    with signed_in(server, alice) as client:
        page = client.get(f"/apps/ticketcloud/my/{number}")
        match = re.search(rf'href="(/apps/ticketcloud/my/{number}/attachments/\d+)"', page.text)
        assert match, page.text
        download = client.get(match.group(1))
    with signed_in(server, bob) as client:
        stolen = client.get(match.group(1))

    assert download.status_code == 200
    assert download.content == b"<script>alert(1)</script>"
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert stolen.status_code == 404


def test_my_rating_records_score(server: PortalServer, helpdesk: Helpdesk, factory: Factory,
                                 domain: ServerDomain) -> None:
    customer = factory.user(helpdesk.tenant, Role.CUSTOMER)
    number = open_ticket(server, helpdesk, customer)
    domain.solve(helpdesk, number)

    with signed_in(server, customer) as client:
        form = client.get(f"/apps/ticketcloud/my/{number}/rate")
        response = client.post(form_action(form), data={
            "csrf_token": csrf_field(form), "score": "5", "comment": "Fast help"})
        page = client.get(f"/apps/ticketcloud/my/{number}")

    assert form.status_code == 200
    assert response.status_code == 303
    assert "You rated this ticket 5 of 5." in page.text
    assert factory.execute("SELECT score, comment FROM ticketcloud_rating WHERE tenant_id = :t",
                           t=helpdesk.tenant.id) == [(5, "Fast help")]


def test_my_rating_of_open_ticket_rejected(server: PortalServer, helpdesk: Helpdesk,
                                           factory: Factory) -> None:
    customer = factory.user(helpdesk.tenant, Role.CUSTOMER)
    number = open_ticket(server, helpdesk, customer)

    with signed_in(server, customer) as client:
        page = client.get(f"/apps/ticketcloud/my/{number}")
        form = client.get(f"/apps/ticketcloud/my/{number}/rate")
        response = client.post(f"/apps/ticketcloud/my/{number}/rate", data={
            "csrf_token": csrf_field(page), "score": "1"})

    assert form.status_code == 409
    assert f"Ticket #{number} is not solved, so it cannot be rated yet." in form.text
    assert response.status_code == 409
    assert factory.execute("SELECT count(*) FROM ticketcloud_rating WHERE tenant_id = :t",
                           t=helpdesk.tenant.id) == [(0,)]
