"""The public rating page over HTTP: a signed link rates once; forged, used and voided
links get 404 and store nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.apps.ticketcloud.public.conftest import (
    Helpdesk,
    ServerDomain,
    created_number,
    csrf_field,
    submit_form,
    valid_fields,
)
from tests.support import Factory

INVALID = "This rating link is invalid, was already used, or no longer works"


@pytest.fixture
def solved_ticket(visitor: httpx.Client, helpdesk: Helpdesk, domain: ServerDomain) -> int:
    number = created_number(submit_form(visitor, helpdesk, valid_fields(
        "rater@example.com", subject="Broken <b>lamp</b>")))
    domain.solve(helpdesk, number)
    return number


def ratings(factory: Factory, desk: Helpdesk) -> list[tuple[object, ...]]:
    return factory.execute("SELECT score, comment FROM ticketcloud_rating WHERE tenant_id = :t",
                           t=desk.tenant.id)


def rate(client: httpx.Client, desk: Helpdesk, token: str, **fields: str) -> httpx.Response:
    page = client.get(desk.url("/new"))
    return client.post(desk.url(f"/rate/{token}"),
                       data={"csrf_token": csrf_field(page), **fields})


def test_rating_link_works_once(visitor: httpx.Client, helpdesk: Helpdesk, factory: Factory,
                                domain: ServerDomain, solved_ticket: int) -> None:
    token = domain.rating_token(helpdesk, solved_ticket)

    page = visitor.get(helpdesk.url(f"/rate/{token}"))
    response = rate(visitor, helpdesk, token, score="4", comment="Quick <i>fix</i>")
    again_page = visitor.get(helpdesk.url(f"/rate/{token}"))
    again = rate(visitor, helpdesk, token, score="1", comment="Changed my mind")

    assert page.status_code == 200
    assert "the answer to \u201c<bdi>Broken &lt;b&gt;lamp&lt;/b&gt;</bdi>\u201d?" in page.text
    assert page.text.count('type="radio" name="score"') == 5
    assert response.status_code == 303
    assert response.headers["location"] == helpdesk.url("/rated")
    assert "Thank you for your rating." in visitor.get(response.headers["location"]).text
    assert again_page.status_code == 404
    assert INVALID in again_page.text
    assert again.status_code == 404
    assert ratings(factory, helpdesk) == [(4, "Quick <i>fix</i>")]


def test_rating_forged_link_not_found(visitor: httpx.Client, helpdesk: Helpdesk,
                                      factory: Factory, domain: ServerDomain,
                                      solved_ticket: int) -> None:
    token = domain.rating_token(helpdesk, solved_ticket)
    ticket_id, nonce, signature = token.split(".")
    forged_signature = ("A" if signature[0] != "A" else "B") + signature[1:]

    for forged in (f"{ticket_id}.{nonce}.{forged_signature}",
                   f"{int(ticket_id) + 1}.{nonce}.{signature}", "not-a-token"):
        assert visitor.get(helpdesk.url(f"/rate/{forged}")).status_code == 404, forged
        assert rate(visitor, helpdesk, forged, score="5").status_code == 404, forged
    assert ratings(factory, helpdesk) == []
    assert visitor.get(helpdesk.url(f"/rate/{token}")).status_code == 200


def test_rating_link_of_other_workspace_not_found(
        visitor: httpx.Client, helpdesk: Helpdesk, factory: Factory, domain: ServerDomain,
        solved_ticket: int) -> None:
    other = factory.tenant()
    factory.install(other, "ticketcloud")
    token = domain.rating_token(helpdesk, solved_ticket)

    page = visitor.get(f"/apps/ticketcloud/public/{other.slug}/rate/{token}")

    assert page.status_code == 404


def test_rating_invalid_score_keeps_link(visitor: httpx.Client, helpdesk: Helpdesk,
                                         factory: Factory, domain: ServerDomain,
                                         solved_ticket: int) -> None:
    token = domain.rating_token(helpdesk, solved_ticket)

    response = rate(visitor, helpdesk, token, score="9", comment="Kept comment")

    assert response.status_code == 422
    assert ('<p class="field-error" id="score-error">Choose a rating from 1 to 5.</p>'
            in response.text)
    assert ">Kept comment</textarea>" in response.text
    assert ratings(factory, helpdesk) == []
    assert visitor.get(helpdesk.url(f"/rate/{token}")).status_code == 200


def test_rating_link_void_after_reopen(visitor: httpx.Client, helpdesk: Helpdesk,
                                       factory: Factory, domain: ServerDomain,
                                       solved_ticket: int) -> None:
    token = domain.rating_token(helpdesk, solved_ticket)
    domain.reply(helpdesk, solved_ticket, "It broke again.", visibility="public",
                 customer_email="rater@example.com")
    domain.solve(helpdesk, solved_ticket)

    page = visitor.get(helpdesk.url(f"/rate/{token}"))
    response = rate(visitor, helpdesk, token, score="2")

    assert page.status_code == 404
    assert INVALID in page.text
    assert response.status_code == 404
    assert ratings(factory, helpdesk) == []


def test_rating_link_of_unsolved_ticket_rejected(
        visitor: httpx.Client, helpdesk: Helpdesk, factory: Factory, domain: ServerDomain,
        solved_ticket: int) -> None:
    token = domain.rating_token(helpdesk, solved_ticket)
    # No action moves a ticket out of solved without voiding its link, so the state is
    # arranged in the database.
    factory.execute("UPDATE ticketcloud_ticket SET status = 'open' WHERE tenant_id = :t",
                    t=helpdesk.tenant.id)

    page = visitor.get(helpdesk.url(f"/rate/{token}"))
    response = rate(visitor, helpdesk, token, score="3")

    assert page.status_code == 409
    assert f"Ticket #{solved_ticket} is not solved, so it cannot be rated yet." in page.text
    assert response.status_code == 409
    assert ratings(factory, helpdesk) == []
