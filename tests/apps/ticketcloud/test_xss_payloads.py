"""Hostile text in TicketCloud's HTTP and WebSocket payloads.

One workspace carries hostile markup, template syntax and bidirectional controls in every
text field (see hostile.py). JSON responses must carry that text as data, typed as JSON
and never sniffed. HTML pages must escape it, and events carry it as data. Attachments
are downloads under a safe name, and customers never receive internal fields.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from tests.apps.ticketcloud.hostile import (
    ADMIN_NAME,
    AGENT_NAME,
    BODY,
    CALENDAR_NAME,
    CATEGORY_NAME,
    COMMENT,
    CUSTOMER_NAME,
    FORM_FILENAME,
    HOLIDAY_NAME,
    IMG,
    MAIL_CC_NAME,
    MAIL_QUOTED,
    MAIL_SENDER_NAME,
    MAIL_SUBJECT,
    MAIL_TEXT,
    MAILBOX_FOLDER,
    MAILBOX_NAME,
    NOTE,
    NOTE_FILENAME,
    POLICY_NAME,
    QUARANTINE_ERROR,
    QUARANTINED_SUBJECT,
    RAW_MARKUP,
    REPLY,
    REPLY_FILENAME,
    RULE_NAME,
    SKIPPED_FILENAME,
    SUBJECT,
    SVG,
    TAG,
    TEAM_NAME,
    TEMPLATE,
    TEMPLATE_SUBJECT,
    TEMPLATE_TEXT,
    HostileWorkspace,
    api_client,
    escaped,
    seed_hostile_workspace,
    short_hostile,
)
from tests.support import Factory, PortalServer, UserInfo, session_cookie, signed_in

TIMEOUT = 10.0
# A stored file's type when the upload's type (text/html here) is not safe to send.
OPAQUE_TYPE = "application/octet-stream"
# The text only agents may see: customers must never receive any of it.
INTERNAL_TEXT = (NOTE, NOTE_FILENAME, TEAM_NAME, RULE_NAME)


@pytest.fixture(scope="module")
def workspace(server: PortalServer, factory: Factory) -> HostileWorkspace:
    return seed_hostile_workspace(server, factory)


@pytest.fixture(scope="module")
def clients(server: PortalServer, factory: Factory,
            workspace: HostileWorkspace) -> Iterator[dict[str, httpx.Client]]:
    """API clients with the bearer token of the admin, the agent and the customer."""
    tokens = {"admin": workspace.admin_token, "agent": workspace.agent_token,
              "customer": factory.api_token(workspace.customer)}
    opened = {role: api_client(server, token) for role, token in tokens.items()}
    yield opened
    for client in opened.values():
        client.close()


def strings_in(data: Any) -> list[str]:
    """Return every string value in a decoded JSON document, keys excluded."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [text for value in data.values() for text in strings_in(value)]
    if isinstance(data, list):
        return [text for value in data for text in strings_in(value)]
    return []


def contains_text(data: Any, text: str) -> bool:
    return any(text in value for value in strings_in(data))


def assert_json(response: httpx.Response) -> Any:
    """Check the response is typed and sent as JSON, and return its decoded body."""
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert response.headers["x-content-type-options"] == "nosniff"
    return response.json()


def assert_escaped_page(page: httpx.Response) -> None:
    """Check the page is HTML that contains no raw markup of the hostile payloads."""
    assert page.headers["content-type"].split(";")[0] == "text/html"
    assert page.headers["x-content-type-options"] == "nosniff"
    for markup in RAW_MARKUP:
        assert markup not in page.text, markup
    assert 'href="javascript:' not in page.text.lower()


# (role, path, text expected in the decoded body); {number}, {rule} are filled in.
JSON_READS = [
    ("agent", "/tickets?status=solved", SUBJECT),
    ("agent", "/tickets?status=solved", CUSTOMER_NAME),
    ("agent", "/tickets/{number}", BODY),
    ("agent", "/tickets/{number}", NOTE),
    ("agent", "/tickets/{number}", REPLY_FILENAME),
    ("agent", "/tickets/{number}", AGENT_NAME),
    ("agent", "/tickets/{number}/messages", NOTE_FILENAME),
    ("agent", "/tickets/{number}/history", RULE_NAME),
    ("agent", "/tickets/{number}/history", TEAM_NAME),
    ("agent", "/teams", TEAM_NAME),
    ("agent", "/categories", CATEGORY_NAME),
    ("agent", "/agents", AGENT_NAME),
    ("admin", "/agents", ADMIN_NAME),
    ("admin", "/rules", RULE_NAME),
    ("admin", "/rules/{rule}", IMG),
    ("admin", "/rules/{rule}", TEMPLATE),
    ("customer", "/tickets/{number}", SUBJECT),
    ("customer", "/tickets/{number}", REPLY),
    ("customer", "/tickets/{number}", FORM_FILENAME),
    ("agent", "/tickets/{mail}", MAIL_SUBJECT),
    ("agent", "/tickets/{mail}", MAIL_SENDER_NAME),
    ("agent", "/tickets/{mail}", MAIL_TEXT),
    ("agent", "/tickets/{mail}", MAIL_QUOTED),
    ("agent", "/tickets/{mail}", MAIL_CC_NAME),
    ("agent", "/tickets/{mail}", SKIPPED_FILENAME),
    ("agent", "/tickets", MAIL_SUBJECT),
    ("agent", "/ratings/breakdown", COMMENT),
    ("admin", "/settings/mail-templates", TEMPLATE_SUBJECT),
    ("admin", "/settings/mail-templates", TEMPLATE_TEXT),
    ("admin", "/sla/policies", POLICY_NAME),
    ("admin", "/sla/policies/{policy}", POLICY_NAME),
    ("admin", "/sla/calendars", CALENDAR_NAME),
    ("admin", "/sla/calendars/{calendar}", HOLIDAY_NAME),
]


@pytest.mark.parametrize(("role", "path", "text"), JSON_READS)
def test_api_read_carries_text_as_json(role: str, path: str, text: str,
                                       clients: dict[str, httpx.Client],
                                       workspace: HostileWorkspace) -> None:
    response = clients[role].get(path.format(
        number=workspace.number, rule=workspace.rule_id, mail=workspace.mail_number,
        policy=workspace.policy_id, calendar=workspace.calendar_id))

    assert response.status_code == 200, response.text
    assert contains_text(assert_json(response), text)


# (path, text expected in the decoded body) of the system app's mail API.
SYSTEM_READS = [
    ("/apps/system/api/mail/log", MAIL_SUBJECT),
    ("/apps/system/api/mail/log", QUARANTINED_SUBJECT),
    ("/apps/system/api/mail/log?direction=in&status=quarantined", QUARANTINE_ERROR),
    ("/apps/system/api/mail", QUARANTINE_ERROR),
    ("/apps/system/api/mail/mailboxes", MAILBOX_NAME),
    ("/apps/system/api/mail/mailboxes", MAILBOX_FOLDER),
]


@pytest.mark.parametrize(("path", "text"), SYSTEM_READS)
def test_system_mail_api_carries_text_as_json(path: str, text: str, server: PortalServer,
                                              workspace: HostileWorkspace) -> None:
    with signed_in(server, workspace.admin) as client:
        response = client.get(path)

    assert response.status_code == 200, response.text
    assert contains_text(assert_json(response), text)


def test_mail_html_document_is_json_without_script(clients: dict[str, httpx.Client],
                                                   workspace: HostileWorkspace) -> None:
    ticket = clients["agent"].get(f"/tickets/{workspace.mail_number}").json()
    message = ticket["messages"][0]
    assert message["mail"]["has_html"] is True

    response = clients["agent"].get(
        f"/tickets/{workspace.mail_number}/messages/{message['id']}/html")

    assert response.status_code == 200, response.text
    document = assert_json(response)["document"]
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';' in document
    assert "<script" not in document
    assert "onerror" not in document
    assert "onload" not in document
    assert "{{7*7}} ${7*7} {subject} {0}" in document


def test_mail_template_preview_returns_text_as_json(clients: dict[str, httpx.Client]) -> None:
    response = clients["admin"].post("/settings/mail-templates/reply/preview", json={
        "subject": TEMPLATE_SUBJECT, "text": TEMPLATE_TEXT, "html": f"<p>{IMG}</p>"})

    assert response.status_code == 200, response.text
    rendered = assert_json(response)
    # Mail templates are Jinja2 templates, so {{7*7}} renders. The admin's own markup
    # comes back as data, and the window shows it as source text.
    assert IMG in rendered["subject"]
    assert SVG in rendered["text"]
    assert rendered["html"] == f"<p>{IMG}</p>"


def test_mail_template_error_names_value_as_json(clients: dict[str, httpx.Client]) -> None:
    response = clients["admin"].put("/settings/mail-templates/reply", json={
        "subject": f"{IMG} {{{{", "text": TEMPLATE_TEXT, "html": None})

    assert response.status_code == 422, response.text
    error = assert_json(response)["error"]
    assert error["field"] == "subject"


@pytest.mark.parametrize("path", ["/tickets/{number}", "/tickets/{number}/messages",
                                  "/tickets?status=solved"])
def test_api_customer_view_lacks_internal_text(path: str, clients: dict[str, httpx.Client],
                                               workspace: HostileWorkspace) -> None:
    response = clients["customer"].get(path.format(number=workspace.number))

    data = assert_json(response)
    for text in INTERNAL_TEXT:
        assert not contains_text(data, text), text


def test_api_writes_return_text_as_json(clients: dict[str, httpx.Client]) -> None:
    created = clients["agent"].post("/tickets", json={
        "subject": SUBJECT, "body": BODY, "requester_email": "carla@customer.example",
        "requester_name": CUSTOMER_NAME})
    assert created.status_code == 201, created.text
    ticket = assert_json(created)
    assert ticket["subject"] == SUBJECT
    assert ticket["requester"]["name"] == CUSTOMER_NAME

    note = clients["agent"].post(f"/tickets/{ticket['number']}/notes", json={"body": NOTE})
    assert note.status_code == 201, note.text
    assert assert_json(note)["body"] == NOTE

    dry_run = clients["admin"].post("/rules/dry-run", json={
        "subject": SUBJECT, "body": BODY, "sender_email": "carla@customer.example"})
    assert dry_run.status_code == 200, dry_run.text
    assert [fired["name"] for fired in assert_json(dry_run)["fired"]] == [RULE_NAME]


@pytest.mark.parametrize("collection", ["teams", "categories"])
def test_api_admin_names_stored_as_json(collection: str,
                                        clients: dict[str, httpx.Client]) -> None:
    name = short_hostile(collection.title())

    created = clients["admin"].post(f"/{collection}", json={"name": name})
    assert created.status_code == 201, created.text
    assert assert_json(created)["name"] == name
    renamed = clients["admin"].patch(f"/{collection}/{created.json()['id']}",
                                     json={"name": name + " 2"})
    assert renamed.status_code == 200, renamed.text
    assert assert_json(renamed)["name"] == name + " 2"
    listed = clients["agent"].get(f"/{collection}")
    assert name + " 2" in [item["name"] for item in assert_json(listed)["items"]]


def test_api_error_names_hostile_value_as_json(clients: dict[str, httpx.Client],
                                               workspace: HostileWorkspace) -> None:
    ticket = clients["agent"].get(f"/tickets/{workspace.number}").json()

    response = clients["agent"].patch(f"/tickets/{workspace.number}",
                                      json={"tags": [TAG], "version": ticket["version"]})

    assert response.status_code == 422
    error = assert_json(response)["error"]
    assert TAG in error["message"]
    assert error["field"] == "tags"


def test_api_invalid_rule_error_is_json(clients: dict[str, httpx.Client]) -> None:
    response = clients["admin"].post("/rules", json={
        "name": RULE_NAME, "match": "all",
        "conditions": [{"field": "subject", "operator": "regex", "value": SVG + "("}],
        "actions": [{"type": "stop"}]})

    assert response.status_code == 422
    assert SVG in assert_json(response)["error"]["message"]


def test_openapi_document_is_json(clients: dict[str, httpx.Client]) -> None:
    response = clients["agent"].get("/openapi.json")

    assert response.status_code == 200
    assert assert_json(response)["openapi"].startswith("3.")


def public_pages(workspace: HostileWorkspace) -> dict[str, tuple[str, list[str]]]:
    """Return the pages a visitor reaches without signing in: path and expected texts."""
    return {
        "form": (f"{workspace.public_root}/new", [CATEGORY_NAME]),
        "confirmation": (workspace.confirmation_path, [
            SUBJECT, BODY, CUSTOMER_NAME, workspace.customer.email, FORM_FILENAME]),
        "rating": (workspace.rating_path, [SUBJECT]),
    }


def customer_pages(workspace: HostileWorkspace) -> dict[str, tuple[str, list[str]]]:
    """Return the signed-in customer's pages: path and expected texts."""
    my_ticket = f"/apps/ticketcloud/my/{workspace.number}"
    return {
        "home": ("/", [CUSTOMER_NAME, workspace.customer.email]),
        "my tickets": ("/apps/ticketcloud/my", [SUBJECT, CUSTOMER_NAME]),
        "my ticket": (my_ticket, [SUBJECT, BODY, REPLY, AGENT_NAME, CATEGORY_NAME,
                                  FORM_FILENAME, REPLY_FILENAME]),
        "my rating": (f"{my_ticket}/rate", [SUBJECT, COMMENT]),
    }


@pytest.mark.parametrize("path", ["/apps/ticketcloud/admin/teams", "/apps/ticketcloud/reports",
                                  "/apps/system/mail", "/apps/system/mail-settings"])
def test_admin_window_page_is_html(path: str, server: PortalServer,
                                   workspace: HostileWorkspace) -> None:
    with signed_in(server, workspace.admin) as client:
        page = client.get(path)

    assert page.status_code == 200, page.text
    assert_escaped_page(page)


@pytest.mark.parametrize("name", ["form", "confirmation", "rating"])
def test_public_page_escapes_text(name: str, server: PortalServer,
                                  workspace: HostileWorkspace) -> None:
    path, texts = public_pages(workspace)[name]
    with httpx.Client(base_url=server.base_url, timeout=30) as visitor:
        page = visitor.get(path)

    assert page.status_code == 200, page.text
    assert_escaped_page(page)
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    for text in texts:
        assert escaped(text) in page.text, text


@pytest.mark.parametrize("name", ["home", "my tickets", "my ticket", "my rating"])
def test_customer_page_escapes_text(name: str, server: PortalServer,
                                    workspace: HostileWorkspace) -> None:
    path, texts = customer_pages(workspace)[name]
    with signed_in(server, workspace.customer) as client:
        page = client.get(path)

    assert page.status_code == 200, page.text
    assert_escaped_page(page)
    for text in texts:
        assert escaped(text) in page.text, text
    for text in INTERNAL_TEXT:
        assert escaped(text) not in page.text, text


def test_desktop_boot_data_escapes_name(server: PortalServer,
                                        workspace: HostileWorkspace) -> None:
    with signed_in(server, workspace.agent) as client:
        page = client.get("/")

    assert page.status_code == 200
    assert_escaped_page(page)
    start = page.text.index('id="miportal-boot">') + len('id="miportal-boot">')
    boot = json.loads(page.text[start:page.text.index("</script>", start)])
    assert boot["user"]["name"] == AGENT_NAME


# (role, path, file name); {number} and the attachment ids are filled in.
DOWNLOADS = [
    ("agent", "/apps/ticketcloud/api/v1/attachments/{form}", FORM_FILENAME),
    ("agent", "/apps/ticketcloud/api/v1/attachments/{reply}", REPLY_FILENAME),
    ("agent", "/apps/ticketcloud/api/v1/attachments/{note}", NOTE_FILENAME),
    ("customer", "/apps/ticketcloud/api/v1/attachments/{reply}", REPLY_FILENAME),
    ("customer", "/apps/ticketcloud/my/{number}/attachments/{form}", FORM_FILENAME),
    ("customer", "/apps/ticketcloud/my/{number}/attachments/{reply}", REPLY_FILENAME),
]


def attachment_path(path: str, workspace: HostileWorkspace) -> str:
    return path.format(number=workspace.number, form=workspace.form_attachment_id,
                       reply=workspace.reply_attachment_id, note=workspace.note_attachment_id)


def user_of(role: str, workspace: HostileWorkspace) -> UserInfo:
    return workspace.customer if role == "customer" else workspace.agent


@pytest.mark.parametrize(("role", "path", "filename"), DOWNLOADS)
def test_attachment_download_is_opaque(role: str, path: str, filename: str,
                                       server: PortalServer,
                                       workspace: HostileWorkspace) -> None:
    with signed_in(server, user_of(role, workspace)) as client:
        response = client.get(attachment_path(path, workspace))

    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition.split(";")[0] == "attachment"
    encoded = disposition.split("filename*=utf-8''", 1)[-1].split("filename*=UTF-8''", 1)[-1]
    assert unquote(encoded) == filename
    assert not set('<>"\\') & set(disposition)
    assert response.headers["content-type"].split(";")[0] == OPAQUE_TYPE
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/apps/ticketcloud/api/v1/attachments/{note}",
                                  "/apps/ticketcloud/my/{number}/attachments/{note}"])
def test_internal_attachment_hidden_from_customer(path: str, server: PortalServer,
                                                  workspace: HostileWorkspace) -> None:
    with signed_in(server, workspace.customer) as client:
        response = client.get(attachment_path(path, workspace))

    assert response.status_code == 404
    assert "content-disposition" not in response.headers
    assert NOTE_FILENAME not in response.text


async def replayed_events(server: PortalServer, user: UserInfo) -> list[dict[str, Any]]:
    """Connect `user`'s desktop socket from the start and return every replayed event."""
    with signed_in(server, user) as client:
        cookie = session_cookie(client)
    events: list[dict[str, Any]] = []
    async with connect(server.ws_url + "?after=0", origin=Origin(server.base_url), proxy=None,
                       additional_headers={"Cookie": f"miportal_session={cookie}"},
                       open_timeout=TIMEOUT) as socket:
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = await _receive(socket, deadline)
            if message["type"] == "ready":
                return events
            if message["type"] == "event":
                events.append(message["event"])


async def _receive(socket: ClientConnection, deadline: float) -> dict[str, Any]:
    remaining = max(deadline - time.monotonic(), 0.01)
    message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), remaining))
    return message


async def test_agent_events_carry_text_as_data(server: PortalServer,
                                               workspace: HostileWorkspace) -> None:
    events = await replayed_events(server, workspace.agent)

    ticket_events = [event for event in events if event["topic"].startswith("ticketcloud.")
                     and event["payload"]["number"] == workspace.number]
    assert ticket_events
    for event in ticket_events:
        assert event["payload"]["subject"] == SUBJECT
    assigned = [event for event in ticket_events if event["topic"] == "ticketcloud.ticket.assigned"]
    assert len(assigned) == 1
    assert assigned[0]["notification"]["body"] == SUBJECT
    assert assigned[0]["notification"]["title"] == f"Ticket #{workspace.number} assigned to you"


async def test_customer_events_lack_ticket_fields(server: PortalServer,
                                                  workspace: HostileWorkspace) -> None:
    events = await replayed_events(server, workspace.customer)

    assert [event["topic"] for event in events if event["topic"].startswith("ticketcloud.")] == []
    for text in (SUBJECT, *INTERNAL_TEXT):
        assert not contains_text(events, text), text
