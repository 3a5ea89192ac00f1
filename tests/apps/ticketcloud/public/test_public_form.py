"""The public web form over HTTP: rendering, checks, attachments, honeypot, rate limits,
CSRF, and text that must never become markup."""

from __future__ import annotations

import time

import httpx
import pytest

from portal.models import Role
from tests.apps.ticketcloud.public.conftest import (
    XSS_PAYLOADS,
    Helpdesk,
    ServerDomain,
    created_number,
    escaped,
    submit_form,
    ticket_rows,
    valid_fields,
)
from tests.support import Factory, PortalServer, signed_in
from ticketcloud.attachments import MAX_ATTACHMENT_BYTES


def test_form_renders_without_login(visitor: httpx.Client, helpdesk: Helpdesk) -> None:
    page = visitor.get(helpdesk.url("/new"))

    assert page.status_code == 200
    for field in ('name="name"', 'name="email"', 'name="subject"', 'name="message"',
                  'name="attachments" type="file" multiple', 'name="csrf_token"'):
        assert field in page.text
    assert 'name="category"' not in page.text
    assert 'enctype="multipart/form-data"' in page.text
    assert "/new?csrf_token=" in page.text
    assert "<script" not in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_form_honeypot_hidden_from_humans(visitor: httpx.Client, helpdesk: Helpdesk) -> None:
    page = visitor.get(helpdesk.url("/new"))

    assert '<div class="honeypot" aria-hidden="true">' in page.text
    assert 'name="website" tabindex="-1" autocomplete="off"' in page.text
    stylesheet = visitor.get(helpdesk.url("/public.css"))
    assert stylesheet.status_code == 200
    assert ".honeypot {\n  position: absolute;\n  left: -10000px;" in stylesheet.text


def test_form_lists_categories_when_exposed(visitor: httpx.Client, helpdesk: Helpdesk,
                                            domain: ServerDomain) -> None:
    ids = domain.expose_categories(helpdesk, ["Billing", "Technical"])

    page = visitor.get(helpdesk.url("/new"))

    assert f'<option value="{ids["Billing"]}">Billing</option>' in page.text
    assert f'<option value="{ids["Technical"]}">Technical</option>' in page.text


def test_submit_creates_web_ticket_with_rules(visitor: httpx.Client, helpdesk: Helpdesk,
                                              factory: Factory, domain: ServerDomain) -> None:
    domain.add_rule(helpdesk, {
        "name": "Refunds are urgent", "match": "all",
        "conditions": [{"field": "subject", "operator": "contains", "value": "refund"}],
        "actions": [{"type": "set_priority", "value": "urgent"}],
    })

    response = submit_form(visitor, helpdesk, valid_fields(
        "Pat@Example.COM", name="Pat Sender", subject="Refund for order 7"))

    number = created_number(response)
    assert ticket_rows(factory, helpdesk) == [
        (number, "web", "pat@example.com", "Pat Sender", "Refund for order 7", "urgent")]
    confirmation = visitor.get(response.headers["location"])
    assert confirmation.status_code == 200
    assert f"Your ticket number is #{number}." in confirmation.text
    assert "We will reply to pat@example.com." in confirmation.text


def test_submit_confirmation_reload_creates_nothing(
        visitor: httpx.Client, helpdesk: Helpdesk, factory: Factory) -> None:
    response = submit_form(visitor, helpdesk, valid_fields("reload@example.com"))

    for _ in range(2):
        assert visitor.get(response.headers["location"]).status_code == 200
    assert len(ticket_rows(factory, helpdesk)) == 1


def test_submit_with_category_and_attachment(visitor: httpx.Client, helpdesk: Helpdesk,
                                             factory: Factory, domain: ServerDomain) -> None:
    ids = domain.expose_categories(helpdesk, ["Billing"])

    response = submit_form(visitor, helpdesk,
                           valid_fields("files@example.com", category=str(ids["Billing"])),
                           files=[("invoice.pdf", b"%PDF-1.7 test", "application/pdf"),
                                  ("notes.txt", b"two", "text/plain")])

    created_number(response)
    assert factory.execute("SELECT category_id FROM ticketcloud_ticket WHERE tenant_id = :t",
                           t=helpdesk.tenant.id) == [(ids["Billing"],)]
    assert factory.execute(
        "SELECT filename, size FROM ticketcloud_attachment WHERE tenant_id = :t ORDER BY id",
        t=helpdesk.tenant.id) == [("invoice.pdf", 13), ("notes.txt", 3)]
    confirmation = visitor.get(response.headers["location"])
    assert "<bdi>invoice.pdf</bdi> (13 bytes)" in confirmation.text


def test_submit_missing_fields_shows_each_error(visitor: httpx.Client, helpdesk: Helpdesk,
                                                factory: Factory) -> None:
    response = submit_form(visitor, helpdesk, {"name": "", "email": "", "subject": " ",
                                               "message": ""})

    assert response.status_code == 422
    assert '<p class="field-error" id="name-error">Enter your name.</p>' in response.text
    assert ('<p class="field-error" id="email-error">Enter a valid email address, such as '
            'name@example.com.</p>') in response.text
    assert '<p class="field-error" id="subject-error">Enter a subject.</p>' in response.text
    assert ('<p class="field-error" id="message-error">Write what you need help with.</p>'
            in response.text)
    assert ticket_rows(factory, helpdesk) == []


def test_submit_invalid_fields_keep_input(visitor: httpx.Client, helpdesk: Helpdesk,
                                          factory: Factory, domain: ServerDomain) -> None:
    domain.expose_categories(helpdesk, ["Billing"])

    response = submit_form(visitor, helpdesk, valid_fields(
        "not-an-address", name="Kept Name", subject="S" * 201, category="999999",
        message="Kept message"))

    assert response.status_code == 422
    assert 'id="email" name="email" type="email" value="not-an-address"' in response.text
    assert 'value="Kept Name"' in response.text
    assert ">Kept message</textarea>" in response.text
    assert "The subject has 201 characters; the maximum is 200." in response.text
    assert '<p class="field-error" id="category-error">' in response.text
    assert 'aria-invalid="true" aria-describedby="email-error"' in response.text
    assert 'autocomplete="name">' in response.text
    assert ticket_rows(factory, helpdesk) == []


def test_submit_oversized_attachment_rejected(visitor: httpx.Client, helpdesk: Helpdesk,
                                              factory: Factory) -> None:
    big = b"x" * (MAX_ATTACHMENT_BYTES + 1)

    response = submit_form(visitor, helpdesk, valid_fields("big@example.com"),
                           files=[("huge.bin", big, "application/octet-stream")])

    assert response.status_code == 422
    assert ("The file huge.bin is 10.0 MiB; each file can be at most 10.0 MiB."
            in response.text)
    assert 'value="big@example.com"' in response.text
    assert ticket_rows(factory, helpdesk) == []
    assert factory.execute("SELECT count(*) FROM ticketcloud_attachment WHERE tenant_id = :t",
                           t=helpdesk.tenant.id) == [(0,)]


def test_submit_too_many_attachments_rejected(visitor: httpx.Client, helpdesk: Helpdesk,
                                              factory: Factory) -> None:
    files = [(f"file{index}.txt", b"x", "text/plain") for index in range(11)]

    response = submit_form(visitor, helpdesk, valid_fields("many@example.com"), files=files)

    assert response.status_code == 422
    assert "You attached 11 files; the maximum is 10." in response.text
    assert ticket_rows(factory, helpdesk) == []


def test_submit_honeypot_creates_nothing(visitor: httpx.Client, helpdesk: Helpdesk,
                                         factory: Factory, server: PortalServer) -> None:
    response = submit_form(visitor, helpdesk,
                           valid_fields("bot@example.com", website="http://spam.example"))

    assert response.status_code == 303
    confirmation = visitor.get(response.headers["location"])
    assert confirmation.status_code == 200
    assert "Thank you. We received your request." in confirmation.text
    assert ticket_rows(factory, helpdesk) == []
    assert f"Dropped a web form submission in tenant {helpdesk.tenant.id}" in server.log()


def test_submit_rate_limited_per_email(visitor: httpx.Client, helpdesk: Helpdesk,
                                       factory: Factory) -> None:
    for index in range(5):
        created_number(submit_form(visitor, helpdesk, valid_fields(
            "often@example.com", subject=f"Question {index}")))

    limited = submit_form(visitor, helpdesk, valid_fields("Often@example.com"))

    assert limited.status_code == 429
    assert "The address often@example.com sent 5 requests in the last 10 minutes." in (
        limited.text)
    assert int(limited.headers["retry-after"]) > 0
    assert len(ticket_rows(factory, helpdesk)) == 5
    created_number(submit_form(visitor, helpdesk, valid_fields("other@example.com")))


def test_submit_rate_limited_per_client(visitor: httpx.Client, helpdesk: Helpdesk,
                                        factory: Factory) -> None:
    for index in range(20):
        created_number(submit_form(visitor, helpdesk, valid_fields(f"s{index}@example.com")))

    limited = submit_form(visitor, helpdesk, valid_fields("late@example.com"))

    assert limited.status_code == 429
    assert "This network sent 20 requests in the last 10 minutes." in limited.text
    assert len(ticket_rows(factory, helpdesk)) == 20


def test_submit_without_csrf_token_rejected(visitor: httpx.Client, helpdesk: Helpdesk,
                                            factory: Factory) -> None:
    visitor.get(helpdesk.url("/new"))

    response = visitor.post(helpdesk.url("/new"), data=valid_fields("csrf@example.com"),
                            files=[("attachments", ("", b"", "application/octet-stream"))])

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert ticket_rows(factory, helpdesk) == []


def test_form_of_workspace_without_app_not_found(visitor: httpx.Client,
                                                 factory: Factory) -> None:
    tenant = factory.tenant()

    assert visitor.get(f"/apps/ticketcloud/public/{tenant.slug}/new").status_code == 404
    assert visitor.get("/apps/ticketcloud/public/no-such-workspace/new").status_code == 404


def test_confirmation_forged_or_expired_not_found(visitor: httpx.Client,
                                                  helpdesk: Helpdesk) -> None:
    response = submit_form(visitor, helpdesk, valid_fields("forge@example.com"))
    number, expires, signature = response.headers["location"].rsplit("/", 1)[1].split(".")
    later = str(int(expires) + 3600)
    forged = "A" if signature[0] != "A" else "B"

    for token in (f"{number}.{later}.{signature}", f"{number}.{expires}.{forged}{signature[1:]}",
                  f"{number}.{int(time.time()) - 1}.{signature}", "1.2.3"):
        page = visitor.get(helpdesk.url(f"/submitted/{token}"))
        assert page.status_code == 404, token
        assert "This confirmation page expired or its link is not valid." in page.text


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
@pytest.mark.parametrize("field", ["subject", "message", "name", "filename"])
def test_hostile_text_shown_as_text(field: str, payload: str, server: PortalServer,
                                    helpdesk: Helpdesk, factory: Factory) -> None:
    customer = factory.user(helpdesk.tenant, Role.CUSTOMER)
    fields = valid_fields(customer.email)
    files = [("report.txt", b"log", "text/plain")]
    if field == "filename":
        files = [(payload, b"log", "text/plain")]
        # Clients send a double quote in a multipart file name as %22 (the HTML standard's
        # form encoding), and the stored name replaces path separators with "_".
        shown = payload.replace('"', "%22").replace("/", "_")
    else:
        fields[field] = payload
        shown = payload

    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        response = submit_form(client, helpdesk, fields, files=files)
        number = created_number(response)
        pages = {"confirmation": client.get(response.headers["location"])}
    with signed_in(server, customer) as client:
        pages["ticket"] = client.get(f"/apps/ticketcloud/my/{number}")
        if field == "subject":
            pages["list"] = client.get("/apps/ticketcloud/my")

    for name, page in pages.items():
        assert page.status_code == 200, name
        assert shown not in page.text, name
        assert escaped(shown) in page.text, name
        assert "<script" not in page.text, name
        assert "<img" not in page.text, name
