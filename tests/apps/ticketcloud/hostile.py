"""Hostile text for the XSS tests, and a workspace that carries it in every text field.

Each payload sets `window.__xss` if a page ever runs it, so a test can look for that
global in the page and in every frame. The browser matrix and the payload tests share
one seeding function, so both look at the same stored strings.
"""

from __future__ import annotations

import html
import re
import smtplib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import httpx

from portal.db import Database
from portal.models import Role
from tests.apps.ticketcloud.mail_samples import customer_mail
from tests.apps.ticketcloud.public.conftest import Helpdesk, ServerDomain
from tests.support import Factory, PortalServer, TenantInfo, UserInfo, signed_in
from ticketcloud.categories import do_create_category
from ticketcloud.settings import do_update_settings
from ticketcloud.teams import do_add_member, do_create_team

API = "/apps/ticketcloud/api/v1"
IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"
SVG = '"><svg onload=window.__xss=1>'
JAVASCRIPT_URL = "javascript:window.__xss=1"
# Jinja2, JavaScript template literals, str.format and the windows' own `{name}` format.
TEMPLATE = "{{7*7}} ${7*7} {subject} {0}"
# A right-to-left override and zero-width characters, kept inside the text because
# JavaScript's trim() would drop a zero-width no-break space at either end.
BIDI = "a\u202egnp.exe\u200bb\u200dc\ufeffd"
PAYLOADS = (IMG, SCRIPT, SVG, JAVASCRIPT_URL, TEMPLATE, BIDI)
# Markup that must never reach an HTML page unescaped.
RAW_MARKUP = ("<img", "<script>window", "<svg")


def hostile(label: str) -> str:
    """Return `label` followed by every payload, about 170 characters plus the label."""
    return " ".join((label, *PAYLOADS))


def short_hostile(label: str) -> str:
    """Return `label` with the markup and template payloads, for names of at most 100
    characters (teams, categories, rules)."""
    return " ".join((label, IMG, SVG, "{{7*7}}", "\u202ex"))


SUBJECT = hostile("Subject")
BODY = hostile("Body") + "\n" + hostile("Second line")
REPLY = hostile("Reply")
NOTE = hostile("Internal note")
COMMENT = hostile("Rating comment")
CUSTOMER_NAME = hostile("Customer")
AGENT_NAME = hostile("Agent")
ADMIN_NAME = hostile("Admin")
TEAM_NAME = short_hostile("Team")
CATEGORY_NAME = short_hostile("Category")
RULE_NAME = short_hostile("Rule")
# An email address has no room for '<', '>', '"' or spaces. The sign-in form's email
# input also rejects ':', so a javascript: prefix cannot be part of a customer's address.
EMAIL_LOCAL = "{{7*7}}${7*7}'&x"
# File names lose '/' (stored as '_'), and clients send '"' as %22, so these have neither.
FORM_FILENAME = "<img src=x onerror=window.__xss=1>{{7*7}}\u202egnp.html"
REPLY_FILENAME = "<svg onload=window.__xss=1>${7*7}\u200b.html"
NOTE_FILENAME = "<img src=x onerror=window.__xss=1> note.html"
FILE_CONTENT = b"<html><body><script>window.__xss=1</script></body></html>"
# A tag is a lowercase word, so hostile tags are rejected and only their error shows.
TAG = IMG

# Inbound mail: the sender's and a Cc's display names, the subject, the new text, the
# quoted history, the HTML part and the name of an attachment over the count limit.
MAIL_SUBJECT = hostile("Mail subject")
MAIL_SENDER_NAME = short_hostile("Sender")
MAIL_CC_NAME = short_hostile("Cc")
MAIL_TEXT = hostile("Mail text")
MAIL_QUOTED = hostile("Quoted")
MAIL_HTML = f"<p>{hostile('Mail HTML')}</p>"
# Mail attachment names lose '<', '>' and '*' (stored as '_'), so this name has none.
SKIPPED_FILENAME = "skipped {{name}} ${name} {0} \u202egnp.exe"
# TicketCloud stores at most 10 files per message, so the 11th is skipped.
STORED_MAIL_FILES = 10
QUARANTINED_SUBJECT = hostile("Quarantined subject")
QUARANTINE_ERROR = hostile("Quarantine error")
MAILBOX_NAME = short_hostile("Mailbox")
MAILBOX_FOLDER = hostile("Folder")
TEMPLATE_SUBJECT = hostile("Template subject")
TEMPLATE_TEXT = hostile("Template text") + "\n{{ ticket_number }}"
POLICY_NAME = short_hostile("Policy")
CALENDAR_NAME = short_hostile("Calendar")
HOLIDAY_NAME = short_hostile("Holiday")
MAIL_DEADLINE_S = 20.0

_FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def escaped(text: str) -> str:
    """Return `text` as Jinja2's autoescape (MarkupSafe) writes it into HTML."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("'", "&#39;"))


@dataclass(frozen=True)
class HostileWorkspace:
    """A workspace whose every text field is hostile, around one solved, rated ticket.

    The ticket came through the web form with an attachment, an assignment rule gave it
    the hostile team, category and agent, and the agent added a public reply and an
    internal note, each with an attachment.
    """

    tenant: TenantInfo
    admin: UserInfo
    agent: UserInfo
    customer: UserInfo
    admin_token: str
    agent_token: str
    number: int
    team_id: int
    category_id: int
    rule_id: int
    form_attachment_id: int
    reply_attachment_id: int
    note_attachment_id: int
    confirmation_path: str
    rating_path: str
    support_address: str
    mail_number: int
    quarantined_id: int
    mailbox_id: int
    policy_id: int
    calendar_id: int

    @property
    def public_root(self) -> str:
        return f"/apps/ticketcloud/public/{self.tenant.slug}"


def api_client(server: PortalServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.base_url + API, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def form_page_fields(page: httpx.Response) -> tuple[str, str]:
    """Return the action and the CSRF token of the page's first POST form."""
    action = _FORM_ACTION.search(page.text)
    token = _CSRF_FIELD.search(page.text)
    assert action and token, f"no POST form with a CSRF token:\n{page.text}"
    return html.unescape(action.group(1)), token.group(1)


def in_thread(work: Any, *args: Any) -> Any:
    """Run `work(*args)` on a worker thread, where asyncio.run() works even while
    Playwright's sync API keeps a loop running on the test thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work, *args).result()


def seed_hostile_workspace(server: PortalServer, factory: Factory) -> HostileWorkspace:
    """Create a HostileWorkspace on `server` through its web form, API and pages."""
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    admin = factory.user(tenant, Role.ADMIN, name=ADMIN_NAME)
    agent = factory.user(tenant, Role.AGENT, name=AGENT_NAME)
    customer = factory.user(tenant, Role.CUSTOMER, name=CUSTOMER_NAME,
                            email=f"{EMAIL_LOCAL}@{tenant.slug}.example")
    team_id, category_id = _add_team_and_category(factory, tenant, agent)
    admin_token = factory.api_token(admin)
    agent_token = factory.api_token(agent)
    with api_client(server, admin_token) as admin_api:
        rule_id = _add_rule(admin_api, team_id, category_id, agent.id)

    number, confirmation_path = submit_web_form(server, tenant, customer, category_id)
    with api_client(server, agent_token) as agent_api:
        reply_attachment_id = _attach(agent_api, number, REPLY_FILENAME, REPLY, "public")
        note_attachment_id = _attach(agent_api, number, NOTE_FILENAME, NOTE, "internal")
        ticket = agent_api.get(f"/tickets/{number}").json()
        solved = agent_api.patch(f"/tickets/{number}",
                                 json={"status": "solved", "version": ticket["version"]})
        assert solved.status_code == 200, solved.text
        form_attachment_id = ticket["messages"][0]["attachments"][0]["id"]

    rate_as_customer(server, customer, number)
    token = in_thread(ServerDomain(server).rating_token, Helpdesk(tenant, agent), number)
    with api_client(server, admin_token) as admin_api:
        policy_id, calendar_id = _add_sla_policy_and_calendar(admin_api)
        support_address = f"support@{tenant.slug}.localhost"
        _put(admin_api, "/settings/mail", {"support_address": support_address})
        _put(admin_api, "/settings/mail-templates/reply",
             {"subject": TEMPLATE_SUBJECT, "text": TEMPLATE_TEXT, "html": None})
    mail_number = _deliver(server, factory, tenant, hostile_mail(support_address), MAIL_SUBJECT)
    with api_client(server, agent_token) as agent_api:
        # The reply meets the first response target, so the SLA report lists the
        # ticket's team and agent, and it queues a mail from the hostile template.
        reply = agent_api.post(f"/tickets/{mail_number}/replies", json={"body": REPLY})
        assert reply.status_code == 201, reply.text
    quarantined_id = _quarantine(server, factory, tenant, support_address)
    mailbox_id = _add_mailbox(server, admin)
    return HostileWorkspace(
        tenant=tenant, admin=admin, agent=agent, customer=customer, admin_token=admin_token,
        agent_token=agent_token, number=number, team_id=team_id, category_id=category_id,
        rule_id=rule_id, form_attachment_id=form_attachment_id,
        reply_attachment_id=reply_attachment_id, note_attachment_id=note_attachment_id,
        confirmation_path=confirmation_path,
        rating_path=f"/apps/ticketcloud/public/{tenant.slug}/rate/{quote(token, safe='')}",
        support_address=support_address, mail_number=mail_number,
        quarantined_id=quarantined_id, mailbox_id=mailbox_id, policy_id=policy_id,
        calendar_id=calendar_id)


def submit_web_form(server: PortalServer, tenant: TenantInfo, customer: UserInfo,
                    category_id: int) -> tuple[int, str]:
    """Send the public web form as `customer` with hostile fields and file; return the
    ticket number and the confirmation page's path."""
    with httpx.Client(base_url=server.base_url, timeout=30) as visitor:
        page = visitor.get(f"/apps/ticketcloud/public/{tenant.slug}/new")
        assert page.status_code == 200, page.text
        action, csrf_token = form_page_fields(page)
        response = visitor.post(action, data={
            "csrf_token": csrf_token, "name": CUSTOMER_NAME, "email": customer.email,
            "subject": SUBJECT, "message": BODY, "category": str(category_id),
        }, files=[("attachments", (FORM_FILENAME, FILE_CONTENT, "text/html"))])
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    token = location.rsplit("/", 1)[-1]
    return int(token.split(".", 1)[0]), location


def rate_as_customer(server: PortalServer, customer: UserInfo, number: int) -> None:
    with signed_in(server, customer) as client:
        page = client.get(f"/apps/ticketcloud/my/{number}/rate")
        assert page.status_code == 200, page.text
        action, csrf_token = form_page_fields(page)
        response = client.post(action, data={"csrf_token": csrf_token, "score": "4",
                                             "comment": COMMENT})
    assert response.status_code == 303, response.text


def _add_team_and_category(factory: Factory, tenant: TenantInfo,
                           agent: UserInfo) -> tuple[int, int]:
    """Create the hostile team (with `agent`) and category, and show categories to
    customers; the API has no route that creates them."""

    async def create(db: Database) -> tuple[int, int]:
        async with db.transaction() as session:
            team = await do_create_team(session, tenant.id, name=TEAM_NAME)
            assert team.id is not None
            await do_add_member(session, tenant.id, team.id, agent.id)
            category = await do_create_category(session, tenant.id, name=CATEGORY_NAME)
            assert category.id is not None
            await do_update_settings(session, tenant.id, expose_category=True)
            return team.id, category.id

    created: tuple[int, int] = factory._run(create)  # type: ignore[no-untyped-call]
    return created


def _add_rule(admin_api: httpx.Client, team_id: int, category_id: int, agent_id: int) -> int:
    """Add a rule with hostile name and condition values that fires on SUBJECT."""
    response = admin_api.post("/rules", json={
        "name": RULE_NAME, "match": "all",
        "conditions": [
            {"field": "subject", "operator": "contains", "value": IMG},
            {"field": "sender_email", "operator": "not_in", "value": [SVG, TEMPLATE]},
        ],
        "actions": [
            {"type": "set_team", "value": team_id},
            {"type": "set_category", "value": category_id},
            {"type": "set_assignee", "value": agent_id},
        ],
    })
    assert response.status_code == 201, response.text
    rule_id: int = response.json()["id"]
    return rule_id


def _attach(agent_api: httpx.Client, number: int, filename: str, body: str,
            visibility: str) -> int:
    """Add a message with one attachment and return the attachment's id."""
    response = agent_api.post(f"/tickets/{number}/attachments",
                              data={"body": body, "visibility": visibility},
                              files=[("file", (filename, FILE_CONTENT, "text/html"))])
    assert response.status_code == 201, response.text
    attachment_id: int = response.json()["attachments"][0]["id"]
    return attachment_id


def hostile_mail(to: str) -> EmailMessage:
    """Return a customer's mail to `to` with hostile names, subject, text, quoted history
    and HTML part, and 11 attachments of which the last, hostile one is skipped."""
    body = f"{MAIL_TEXT}\n\nOn Mon, 3 Mar 2025, Support wrote:\n> {MAIL_QUOTED}\n"
    mail = customer_mail(to=to, subject=MAIL_SUBJECT, html=MAIL_HTML, body=body)
    # An Address object quotes and encodes the display name. A formataddr() string set
    # as an EmailMessage header is refolded without its quotes (seen on CPython 3.11),
    # and the portal's parser then finds no From at all.
    del mail["From"]
    mail["From"] = Address(display_name=MAIL_SENDER_NAME, addr_spec="sender@customer.example")
    mail["Cc"] = Address(display_name=MAIL_CC_NAME, addr_spec="cc@customer.example")
    for index in range(STORED_MAIL_FILES):
        mail.add_attachment(b"part", maintype="text", subtype="plain",
                            filename=f"part-{index}.txt")
    mail.add_attachment(FILE_CONTENT, maintype="text", subtype="plain",
                        filename=SKIPPED_FILENAME)
    return mail


def _put(api: httpx.Client, path: str, body: dict[str, Any]) -> None:
    response = api.put(path, json=body)
    assert response.status_code == 200, response.text


def _add_sla_policy_and_calendar(admin_api: httpx.Client) -> tuple[int, int]:
    """Add a hostile calendar with a hostile holiday, and a hostile policy on the 24/7
    default calendar, so that the mail ticket gets running targets."""
    calendar = admin_api.post("/sla/calendars", json={
        "name": CALENDAR_NAME, "time_zone": "Europe/Berlin",
        "hours": {"mon": [["09:00", "17:00"]]},
        "holidays": [{"date": "2030-12-25", "name": HOLIDAY_NAME}]})
    assert calendar.status_code == 201, calendar.text
    policy = admin_api.post("/sla/policies", json={
        "name": POLICY_NAME, "first_response_minutes": 600, "resolution_minutes": 6000})
    assert policy.status_code == 201, policy.text
    return policy.json()["id"], calendar.json()["id"]


def _send(server: PortalServer, mail: EmailMessage) -> None:
    # Plain smtplib, because Playwright's sync API keeps an event loop on this thread.
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.send_message(mail)


def _deliver(server: PortalServer, factory: Factory, tenant: TenantInfo, mail: EmailMessage,
             subject: str) -> int:
    """Send `mail` through the server's SMTP listener and return the number of the
    ticket it became."""
    _send(server, mail)
    deadline = time.monotonic() + MAIL_DEADLINE_S
    while time.monotonic() < deadline:
        rows = factory.execute("SELECT number FROM ticketcloud_ticket WHERE tenant_id = :t "
                               "AND subject = :s", t=tenant.id, s=subject)
        if rows:
            number: int = rows[0][0]
            return number
        time.sleep(0.05)
    raise AssertionError(f"the mail did not become a ticket within {MAIL_DEADLINE_S} s")


def _quarantine(server: PortalServer, factory: Factory, tenant: TenantInfo,
                support_address: str) -> int:
    """Deliver a mail with a hostile subject, then mark it quarantined with a hostile
    error, and return its inbound id. The error is set in the database because no
    failure of the handler carries text the sender chose."""
    _deliver(server, factory, tenant, customer_mail(to=support_address,
                                                    subject=QUARANTINED_SUBJECT),
             QUARANTINED_SUBJECT)
    rows = factory.execute("SELECT id FROM portal_mail_inbound WHERE tenant_id = :t "
                           "AND subject = :s", t=tenant.id, s=QUARANTINED_SUBJECT)
    assert len(rows) == 1, rows
    inbound_id: int = rows[0][0]
    factory.execute("UPDATE portal_mail_inbound SET status = 'quarantined', error = :e "
                    "WHERE id = :i", e=QUARANTINE_ERROR, i=inbound_id)
    return inbound_id


def _add_mailbox(server: PortalServer, admin: UserInfo) -> int:
    """Add a disabled IMAP mailbox with a hostile name and folder; it is never polled."""
    with signed_in(server, admin) as client:
        response = client.post("/apps/system/api/mail/mailboxes", json={
            "name": MAILBOX_NAME, "app_id": "ticketcloud", "host": "imap.example.com",
            "port": 993, "security": "tls", "username": "support", "password": "secret",
            "folder": MAILBOX_FOLDER, "enabled": False})
    assert response.status_code == 201, response.text
    mailbox_id: int = response.json()["id"]
    return mailbox_id
