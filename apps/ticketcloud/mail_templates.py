"""Per-tenant templates of TicketCloud's mails: the confirmation of a new ticket, an
agent's reply and the rating request.

Templates are Jinja2, rendered in `ImmutableSandboxedEnvironment`, which rejects access
to attributes that start with an underscore and to the internals of functions and
classes (`jinja2.sandbox.is_safe_attribute`), so a template cannot reach Python objects
beyond the values passed in. Those values are a fixed set of strings (`VARIABLES`), and
an unknown name is an error. The HTML part is autoescaped, and the subject and the text
part are plain text. A template is checked on save: a syntax error is rejected with its
line, and a render with sample values must succeed. A tenant's template that still fails
when a mail is sent (on values the sample did not have) falls back to the default, so a
mail is never lost to a template.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import bindparam
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import InvalidInput, NotFound, cached_config, utcnow
from ticketcloud.models import MailTemplate, MailTemplateKind

logger = logging.getLogger(__name__)

VARIABLES = ("ticket_number", "subject", "requester_name", "reply_text", "agent_name",
             "rating_link", "workspace_name")
TEMPLATE_FIELDS = ("subject", "text", "html")
MAX_SUBJECT_TEMPLATE = 500
MAX_BODY_TEMPLATE = 20_000
# A rendered subject longer than this is cut; RFC 5322 recommends lines under 78
# characters, and long subjects are cut by mail programs anyway.
MAX_RENDERED_SUBJECT = 250

SAMPLE_VALUES = {
    "ticket_number": "42", "subject": "Printer on fire", "requester_name": "Casey Customer",
    "reply_text": "We replaced the toner.\nPlease try again.", "agent_name": "Alex Agent",
    "rating_link": "https://portal.example.com/apps/ticketcloud/public/acme/rate/sample",
    "workspace_name": "Acme Support",
}


@dataclass(frozen=True)
class TemplateSet:
    subject: str
    text: str
    html: str | None = None


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str | None


DEFAULTS: dict[MailTemplateKind, TemplateSet] = {
    MailTemplateKind.CONFIRMATION: TemplateSet(
        subject="[#{{ ticket_number }}] {{ subject }}",
        text="Hello {{ requester_name }},\n\n"
             "We received your request and gave it the number #{{ ticket_number }}:\n\n"
             "    {{ subject }}\n\n"
             # Lines of the default texts stay within 78 characters, so that the mail
             # goes out unencoded (RFC 5322 section 2.1.1).
             "We will answer by email. To add something, reply to this message and keep\n"
             "[#{{ ticket_number }}] in the subject.\n"),
    MailTemplateKind.REPLY: TemplateSet(
        subject="Re: [#{{ ticket_number }}] {{ subject }}",
        text="{{ reply_text }}\n\n-- \n{{ agent_name }}\n"
             "Reply to this message to answer; keep [#{{ ticket_number }}] in the subject.\n"),
    MailTemplateKind.RATING_REQUEST: TemplateSet(
        subject="Solved: [#{{ ticket_number }}] {{ subject }}",
        text="Hello {{ requester_name }},\n\n"
             "We solved your request #{{ ticket_number }}:\n\n    {{ subject }}\n\n"
             "How did we do? Rate our support here:\n\n{{ rating_link }}\n\n"
             "If your problem is not solved, reply to this message and we will reopen it.\n"),
}

_PLAIN = ImmutableSandboxedEnvironment(autoescape=False, undefined=StrictUndefined,
                                       keep_trailing_newline=True)
_HTML = ImmutableSandboxedEnvironment(autoescape=True, undefined=StrictUndefined,
                                      keep_trailing_newline=True)


def check_kind(value: str) -> MailTemplateKind:
    try:
        return MailTemplateKind(value)
    except ValueError:
        choices = ", ".join(kind.value for kind in MailTemplateKind)
        raise NotFound(f"Unknown mail template {value!r}: use one of {choices}.",
                       field="kind") from None


# Characters a one-line subject cannot carry (line breaks, tabs and the other controls
# that `str.split` treats as whitespace), with the spaces around them. Other spacing,
# such as two spaces or an ideographic space, stays as the ticket's subject has it.
_LINE_BREAKS = re.compile(r"\s*[\t-\r\x1c-\x1f\x85\u2028\u2029]\s*")


def render(templates: TemplateSet, values: dict[str, str]) -> RenderedMail:
    """Render a template set; raises jinja2's TemplateError (SecurityError included) when
    a template fails."""
    subject = _LINE_BREAKS.sub(" ", _compiled(False, templates.subject).render(values)).strip()
    text = _compiled(False, templates.text).render(values)
    html = _compiled(True, templates.html).render(values) if templates.html else None
    return RenderedMail(subject=subject[:MAX_RENDERED_SUBJECT], text=text, html=html)


@functools.lru_cache(maxsize=256)
def _compiled(html: bool, source: str) -> Template:
    """Return `source` compiled in the plain or the HTML sandbox. Compiling costs more
    than rendering and templates change rarely, so the compiled form is cached by source
    text, and a changed template is a new key."""
    return (_HTML if html else _PLAIN).from_string(source)


def check_templates(data: dict[str, Any]) -> TemplateSet:
    """Return the templates in `data` when each parses and renders with sample values.
    Otherwise raise InvalidInput naming the field, and the line of a syntax error."""
    unknown = sorted(set(data) - set(TEMPLATE_FIELDS))
    if unknown:
        raise InvalidInput(f"Unknown template fields {unknown}; the fields are "
                           f"{list(TEMPLATE_FIELDS)}.", field=unknown[0])
    for name in ("subject", "text"):
        if not isinstance(data.get(name), str) or not data[name].strip():
            raise InvalidInput(f"The {name} template is missing; send it as text.", field=name)
    html = data.get("html")
    if html is not None and not isinstance(html, str):
        raise InvalidInput("The html template must be text or null.", field="html")
    templates = TemplateSet(subject=data["subject"], text=data["text"], html=html or None)
    _check_length("subject", templates.subject, MAX_SUBJECT_TEMPLATE)
    _check_length("text", templates.text, MAX_BODY_TEMPLATE)
    if templates.html is not None:
        _check_length("html", templates.html, MAX_BODY_TEMPLATE)
    for name, environment in (("subject", _PLAIN), ("text", _PLAIN), ("html", _HTML)):
        source = getattr(templates, name)
        if source is not None:
            _check_one(name, source, environment)
    return templates


def _check_length(name: str, source: str, limit: int) -> None:
    if len(source) > limit:
        raise InvalidInput(f"The {name} template is {len(source)} characters long; the "
                           f"maximum is {limit}.", field=name)


def _check_one(name: str, source: str, environment: ImmutableSandboxedEnvironment) -> None:
    try:
        template = environment.from_string(source)
    except TemplateSyntaxError as error:
        raise InvalidInput(f"The {name} template has a syntax error on line {error.lineno}: "
                           f"{error.message}", field=name) from None
    try:
        template.render(SAMPLE_VALUES)
    except SecurityError as error:
        raise InvalidInput(f"The {name} template is rejected by the sandbox: {error}. Use "
                           f"only the variables {', '.join(VARIABLES)}.", field=name) from None
    except UndefinedError as error:
        raise InvalidInput(f"The {name} template uses an unknown name ({error.message}); "
                           f"the variables are {', '.join(VARIABLES)}.", field=name) from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as error:
        raise InvalidInput(f"The {name} template fails to render: {error}.",
                           field=name) from None


# Built once, because every new ticket runs it.
_TEMPLATE = select(MailTemplate).where(MailTemplate.tenant_id == bindparam("tenant_id"),
                                       MailTemplate.kind == bindparam("kind"))


async def load_template(session: AsyncSession, tenant_id: int,
                        kind: MailTemplateKind) -> MailTemplate | None:
    return (await session.exec(_TEMPLATE, params={"tenant_id": tenant_id,
                                                  "kind": kind})).first()


async def do_set_template(session: AsyncSession, tenant_id: int, kind: MailTemplateKind,
                          data: dict[str, Any], *, user_id: int | None) -> MailTemplate:
    """Check and store the tenant's templates of `kind`."""
    templates = check_templates(data)
    row = await load_template(session, tenant_id, kind) or MailTemplate(
        tenant_id=tenant_id, kind=kind, subject="", text="")
    row.subject, row.text, row.html = templates.subject, templates.text, templates.html
    row.updated_by = user_id
    row.updated_at = utcnow()
    session.add(row)
    await session.flush()
    logger.info("Set mail template %s of tenant %s (user %s)", kind.value, tenant_id, user_id)
    return row


async def do_reset_template(session: AsyncSession, tenant_id: int,
                            kind: MailTemplateKind) -> None:
    """Delete the tenant's templates of `kind`, so the defaults apply again."""
    row = await load_template(session, tenant_id, kind)
    if row is not None:
        await session.delete(row)
        await session.flush()
        logger.info("Reset mail template %s of tenant %s to the default", kind.value,
                    tenant_id)


async def render_mail(session: AsyncSession, tenant_id: int, kind: MailTemplateKind,
                      values: dict[str, str]) -> RenderedMail:
    """Render the tenant's mail of `kind`, or the default when the tenant has none or
    its template fails on these values."""
    complete = {name: values.get(name, "") for name in VARIABLES}
    templates = await _templates_of(session, tenant_id, kind)
    if templates is not None:
        try:
            return render(templates, complete)
        except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as error:
            logger.warning("Mail template %s of tenant %s failed (%s: %s); using the "
                           "default", kind.value, tenant_id, type(error).__name__, error)
    return render(DEFAULTS[kind], complete)


async def _templates_of(session: AsyncSession, tenant_id: int,
                        kind: MailTemplateKind) -> TemplateSet | None:
    """Return the tenant's own templates of `kind`, or None for the defaults, from the
    configuration cache while the tenant's templates did not change."""

    async def load(session: AsyncSession, tenant_id: int) -> TemplateSet | None:
        row = await load_template(session, tenant_id, kind)
        return TemplateSet(row.subject, row.text, row.html) if row is not None else None

    return await cached_config(session, tenant_id, f"ticketcloud.template:{kind.value}", load,
                               tables=_TEMPLATE_TABLES)


_TEMPLATE_TABLES = (MailTemplate,)


def template_view(kind: MailTemplateKind, row: MailTemplate | None) -> dict[str, Any]:
    default = DEFAULTS[kind]
    current = TemplateSet(row.subject, row.text, row.html) if row is not None else default
    return {"kind": kind.value, "is_default": row is None, "subject": current.subject,
            "text": current.text, "html": current.html,
            "updated_at": row.updated_at.isoformat() if row is not None else None,
            "default": {"subject": default.subject, "text": default.text,
                        "html": default.html}}
