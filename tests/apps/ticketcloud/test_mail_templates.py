"""Mail templates: checks on save, the sandbox, autoescaping of the HTML part, the
defaults, and the mail that TicketCloud queues with a workspace's own template."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest
from jinja2.exceptions import SecurityError
from sqlmodel import col, select

from portal.db import Database
from portal.errors import InvalidInput
from portal.mail.outbox import OutboxMessage
from portal.sdk import AppContext
from tests.apps.ticketcloud.conftest import Workspace, create_ticket
from ticketcloud.mail_templates import (
    DEFAULTS,
    SAMPLE_VALUES,
    TemplateSet,
    check_templates,
    do_set_template,
    render,
    render_mail,
)
from ticketcloud.models import MailTemplateKind

HOSTILE = [
    "{{ subject.__class__.__mro__ }}",
    "{{ ''.__class__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ '{0.__class__.__base__}'.format(subject) }}",
    "{{ lipsum.__globals__['os'] }}",
]


def test_check_templates_syntax_error_names_line() -> None:
    with pytest.raises(InvalidInput) as raised:
        check_templates({"subject": "Hi", "text": "Hello\n\n{% if %}\n"})

    assert raised.value.field == "text"
    assert "line 3" in raised.value.message


def test_check_templates_unknown_variable_rejected() -> None:
    with pytest.raises(InvalidInput) as raised:
        check_templates({"subject": "{{ password }}", "text": "x"})

    assert raised.value.field == "subject"
    assert "password" in raised.value.message
    assert "ticket_number" in raised.value.message


def test_check_templates_missing_text_rejected() -> None:
    with pytest.raises(InvalidInput) as raised:
        check_templates({"subject": "Hi", "text": "  "})

    assert raised.value.field == "text"


@pytest.mark.parametrize("source", HOSTILE)
def test_render_sandbox_raises_on_internals(source: str) -> None:
    with pytest.raises(SecurityError):
        render(TemplateSet(subject="x", text=source), SAMPLE_VALUES)


@pytest.mark.parametrize("source", HOSTILE)
def test_check_templates_rejects_internals(source: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_templates({"subject": "Hi", "text": "ok", "html": source})

    assert raised.value.field == "html"
    assert "sandbox" in raised.value.message


def test_render_html_part_autoescaped() -> None:
    values = {**SAMPLE_VALUES, "reply_text": "<script>alert(1)</script>"}
    rendered = render(TemplateSet(subject="{{ reply_text }}", text="{{ reply_text }}",
                                  html="<p>{{ reply_text }}</p>"), values)

    assert rendered.html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert rendered.text == "<script>alert(1)</script>"


def test_render_subject_one_line() -> None:
    rendered = render(TemplateSet(subject="A\r\n{{ reply_text }}", text="x"), SAMPLE_VALUES)

    assert rendered.subject == "A We replaced the toner. Please try again."


def test_render_subject_keeps_spacing() -> None:
    """Two spaces and an ideographic space stay; a tab and a line break become one
    space."""
    values = {**SAMPLE_VALUES, "subject": "double  space \u4ef6\u540d\u3000\u5168\u89d2"}
    rendered = render(TemplateSet(subject="Re:\t{{ subject }} \u2028 end ", text="x"), values)

    assert rendered.subject == "Re: double  space \u4ef6\u540d\u3000\u5168\u89d2 end"


async def test_render_mail_default_when_unset(db: Database, workspace: Workspace) -> None:
    async with db.read() as session:
        rendered = await render_mail(session, workspace.tenant_id,
                                     MailTemplateKind.CONFIRMATION, SAMPLE_VALUES)

    assert rendered == render(DEFAULTS[MailTemplateKind.CONFIRMATION], SAMPLE_VALUES)


@pytest.mark.parametrize("kind", [MailTemplateKind.CONFIRMATION, MailTemplateKind.REPLY])
def test_default_texts_keep_lines_short(kind: MailTemplateKind) -> None:
    """Lines up to 78 characters go out unencoded. A longer line makes the whole mail
    quoted-printable, which shows as soft line breaks to anyone reading the raw mail."""
    values = {**SAMPLE_VALUES, "ticket_number": "1234567"}
    rendered = render(DEFAULTS[kind], values)

    assert max(map(len, rendered.text.splitlines())) <= 78


async def test_render_mail_falls_back_on_runtime_failure(db: Database,
                                                         workspace: Workspace) -> None:
    # Passes the check (the sample ticket is #42) but divides by zero for ticket #7.
    async with db.transaction() as session:
        await do_set_template(session, workspace.tenant_id, MailTemplateKind.CONFIRMATION,
                              {"subject": "{{ 10 // (ticket_number|int - 7) }}",
                               "text": "Custom"}, user_id=None)
    values = {**SAMPLE_VALUES, "ticket_number": "7"}
    async with db.read() as session:
        rendered = await render_mail(session, workspace.tenant_id,
                                     MailTemplateKind.CONFIRMATION, values)

    assert rendered == render(DEFAULTS[MailTemplateKind.CONFIRMATION], values)


async def test_confirmation_uses_workspace_template(db: Database, context: AppContext,
                                                    workspace: Workspace,
                                                    other_workspace: Workspace) -> None:
    async with db.transaction() as session:
        await do_set_template(session, workspace.tenant_id, MailTemplateKind.CONFIRMATION, {
            "subject": "Thanks, {{ requester_name }}",
            "text": "{{ workspace_name }} got #{{ ticket_number }}: {{ subject }}",
            "html": "<b>{{ subject }}</b>"}, user_id=None)
    ticket = await create_ticket(context, workspace, subject="Fan <loud>",
                                 requester_name="Cal")
    other = await create_ticket(context, other_workspace, subject="Fan <loud>")
    async with db.read() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(
            col(OutboxMessage.id)))).all()
    mails = {row.tenant_id: BytesParser(policy=policy.default).parsebytes(row.content)
             for row in rows}
    mine = mails[workspace.tenant_id]
    text_part = mine.get_body(("plain",))
    html_part = mine.get_body(("html",))

    assert mine["Subject"] == f"[#{ticket.number}] Thanks, Cal"
    assert text_part is not None
    assert text_part.get_content().strip() == f"Acme got #{ticket.number}: Fan <loud>"
    assert html_part is not None
    assert "<b>Fan &lt;loud&gt;</b>" in html_part.get_content()
    assert mails[other_workspace.tenant_id]["Subject"] == f"[#{other.number}] Fan <loud>"
