"""The public web form: anyone opens a ticket without signing in.

`GET /public/{workspace}/new` shows the form. `POST` checks it, applies the rate limits
and the honeypot, creates the ticket with the channel `web`, and redirects to a signed
confirmation URL, so reloading the confirmation never sends the form again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlmodel import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.sdk import (
    AppContext,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    Principal,
    RateLimit,
    RateLimitResult,
    Role,
    app_context,
    csrf_token,
    principal,
    tenant_id,
)
from ticketcloud.attachments import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    MAX_TOTAL_BYTES,
    AttachmentUpload,
    message_attachments,
)
from ticketcloud.categories import list_categories
from ticketcloud.checks import MAX_BODY, check_body, check_email, check_subject
from ticketcloud.models import MAX_PERSON_NAME, MAX_SUBJECT, Category, Ticket
from ticketcloud.public_pages import message_page, public_stylesheet, public_url, render
from ticketcloud.public_text import format_size, text
from ticketcloud.public_uploads import (
    MAX_FORM_BYTES,
    FormTooLarge,
    FormUnreadable,
    form_text,
    form_uploads,
    read_form,
)
from ticketcloud.settings import load_settings
from ticketcloud.tickets import do_create_ticket, ticket_messages

logger = logging.getLogger(__name__)

# Each workspace counts a client address on its own, so one busy office cannot lock
# itself out of every workspace on the server, and tests on one address stay apart. The
# portal keeps the counts in its database, so they hold across processes and restarts.
IP_LIMIT = RateLimit(name="web_form.ip", max_hits=20, window_seconds=600)
EMAIL_LIMIT = RateLimit(name="web_form.email", max_hits=5, window_seconds=600)
CONFIRMATION_SECONDS = 3600
# A field humans never see or fill; bots that fill every field give themselves away.
HONEYPOT_FIELD = "website"
# The domain's field names for the form's fields.
_DOMAIN_FIELDS = {"requester_name": "name", "requester_email": "email", "subject": "subject",
                  "body": "message", "category": "category", "attachments": "attachments"}
_CONFIRMATION = re.compile(r"^(0|[1-9][0-9]{0,18})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass
class FormValues:
    """The form's text fields as the visitor typed them, to show them again."""

    name: str = ""
    email: str = ""
    subject: str = ""
    message: str = ""
    category: str = ""


@dataclass
class CheckedForm:
    """A form that passed every check, ready for `do_create_ticket`."""

    name: str
    email: str
    subject: str
    message: str
    category_id: int | None
    uploads: list[AttachmentUpload] = field(default_factory=list)


class _SenderLimited(Exception):
    """The sender address reached its limit; raised to roll the ticket back."""

    def __init__(self, result: RateLimitResult) -> None:
        super().__init__(f"retry after {result.retry_after} s")
        self.result = result


async def new_ticket_form(request: Request) -> Response:
    who = _signed_in(request)
    values = FormValues(name=who.name, email=who.email) if who else FormValues()
    return await _form_page(request, values, {})


async def submit_ticket(request: Request) -> Response:
    context = app_context(request)
    tenant = tenant_id(request)
    workspace = request.path_params["workspace"]
    # NOTE: behind a reverse proxy this is the proxy's address, so every visitor shares
    # one per-address limit until the portal passes the forwarded client address on.
    client = request.client.host if request.client else "unknown"

    # Counted before the form is read, so invalid and honeypot submissions count too.
    by_client = await context.hit_rate_limit(IP_LIMIT, f"{tenant}:{client}")
    if not by_client.allowed:
        logger.info("Rate limited the web form of tenant %s for client %s", tenant, client)
        return _too_many(request, text("limit.ip", max=IP_LIMIT.max_hits,
                                       minutes=IP_LIMIT.window_minutes,
                                       wait=_minutes(by_client.retry_after)),
                         by_client.retry_after)

    try:
        form = await read_form(request)
    except FormTooLarge:
        return await _form_page(request, FormValues(), {
            "attachments": text("error.form_too_large", max=format_size(MAX_FORM_BYTES))},
            status_code=413)
    except FormUnreadable as error:
        logger.info("Rejected an unreadable web form in tenant %s: %s", tenant, error)
        return await _form_page(request, FormValues(), {
            "attachments": text("error.form_unreadable")}, status_code=400)
    try:
        values = FormValues(**{name: form_text(form, name) for name in (
            "name", "email", "subject", "message", "category")})
        uploads = await form_uploads(form, "attachments")
        honeypot = form_text(form, HONEYPOT_FIELD)
    finally:
        await form.close()

    if honeypot:
        logger.warning("Dropped a web form submission in tenant %s from client %s: the "
                       "honeypot field was filled", tenant, client)
        return _redirect_to_confirmation(context, tenant, workspace, number=0)

    categories = await _exposed_categories(context, tenant)
    checked, errors = check_form(values, uploads, categories)
    if checked is None:
        return await _form_page(request, values, errors, status_code=422)

    try:
        ticket = await _create(context, request, tenant, checked)
    except _SenderLimited as limited:
        wait = limited.result.retry_after
        logger.info("Rate limited the web form of tenant %s for one sender address", tenant)
        return _too_many(request, text("limit.email", email=checked.email,
                                       max=EMAIL_LIMIT.max_hits,
                                       minutes=EMAIL_LIMIT.window_minutes,
                                       wait=_minutes(wait)), wait)
    except (InvalidInput, NotFound) as error:
        # The form's own checks passed, so a check that only the domain makes failed, or
        # the category was deleted meanwhile. Its message goes next to the matching field.
        form_field = _DOMAIN_FIELDS.get(error.field or "", "message")
        return await _form_page(request, values, {form_field: error.message},
                                status_code=422)
    return _redirect_to_confirmation(context, tenant, workspace, number=ticket.number)


async def submitted_page(request: Request) -> Response:
    """Show what the visitor sent, for an unexpired confirmation link."""
    context = app_context(request)
    tenant = tenant_id(request)
    workspace = request.path_params["workspace"]
    number = read_confirmation(context, tenant, request.path_params["token"])
    if number is None:
        return message_page(request, title=text("submitted.invalid_title"),
                            message=text("submitted.invalid"), status_code=404,
                            stylesheet=public_stylesheet(workspace))
    page: dict[str, Any] = {"number": number, "ticket": None, "message": None,
                            "attachments": []}
    if number:
        async with context.db.read() as session:
            ticket = (await session.exec(select(Ticket).where(
                Ticket.tenant_id == tenant, Ticket.number == number))).first()
            if ticket is None:
                raise NotFound(f"Ticket #{number} not found.")
            messages = await ticket_messages(session, ticket, include_internal=False)
            first = messages[0] if messages else None
            attachments = (await message_attachments(session, tenant, [first.id])
                           if first is not None and first.id is not None else [])
        page.update(ticket=ticket, message=first, attachments=attachments)
    return render(request, "submitted.html", {
        **page, "stylesheet": public_stylesheet(workspace),
        "new_url": public_url(workspace, "/new"),
    })


def check_form(values: FormValues, uploads: list[AttachmentUpload],
               categories: list[Category] | None) -> tuple[CheckedForm | None, dict[str, str]]:
    """Return the checked form, or None and one message per invalid field.

    `categories` is None when the workspace does not show categories; a submitted
    category is then ignored.
    """
    errors: dict[str, str] = {}
    name = _CONTROL.sub(" ", values.name).strip()
    if not name:
        errors["name"] = text("error.name_required")
    elif len(name) > MAX_PERSON_NAME:
        errors["name"] = text("error.name_too_long", length=len(name), max=MAX_PERSON_NAME)
    email = _checked_email(values.email)
    if email is None:
        errors["email"] = text("error.email_invalid")
    for form_field, error in (("subject", _subject_error(values.subject)),
                              ("message", message_error(values.message))):
        if error:
            errors[form_field] = error
    category_id = None
    if categories is not None and values.category:
        category_id = next((item.id for item in categories
                            if str(item.id) == values.category), None)
        if category_id is None:
            errors["category"] = text("error.category_invalid")
    uploads_error = attachments_error(uploads)
    if uploads_error:
        errors["attachments"] = uploads_error
    if errors or email is None:
        return None, errors
    return CheckedForm(name=name, email=email, subject=values.subject, message=values.message,
                       category_id=category_id, uploads=uploads), {}


def confirmation_token(context: AppContext, tenant: int, number: int, *,
                       now: float | None = None) -> str:
    """Return `<number>.<expiry>.<signature>`; number 0 confirms without a ticket."""
    expires = int((now if now is not None else time.time()) + CONFIRMATION_SECONDS)
    return f"{number}.{expires}.{_sign(context, tenant, number, expires)}"


def read_confirmation(context: AppContext, tenant: int, token: str, *,
                      now: float | None = None) -> int | None:
    """Return the ticket number of a valid, unexpired confirmation token, else None."""
    match = _CONFIRMATION.match(token)
    if match is None:
        return None
    number, expires = int(match[1]), int(match[2])
    if not hmac.compare_digest(match[3], _sign(context, tenant, number, expires)):
        return None
    if expires < (now if now is not None else time.time()):
        return None
    return number


async def _create(context: AppContext, request: Request, tenant: int,
                  checked: CheckedForm) -> Ticket:
    who = _signed_in(request)
    requester_user_id = (who.user_id if who is not None and who.role is Role.CUSTOMER
                         and who.email.lower() == checked.email else None)
    async with context.transaction() as session:
        # Counted in the ticket's transaction: only tickets created count, and a ticket
        # that fails to be created takes its hit back with the rollback.
        by_sender = await context.hit_rate_limit(EMAIL_LIMIT, f"{tenant}:{checked.email}",
                                                 session=session)
        if not by_sender.allowed:
            raise _SenderLimited(by_sender)
        return await do_create_ticket(
            context, session, tenant_id=tenant, subject=checked.subject,
            body=checked.message, requester_email=checked.email,
            requester_name=checked.name, channel="web", category=checked.category_id,
            attachments=checked.uploads, requester_user_id=requester_user_id)


async def _form_page(request: Request, values: FormValues, errors: dict[str, str], *,
                     status_code: int = 200) -> Response:
    context = app_context(request)
    workspace = request.path_params["workspace"]
    token = csrf_token(request)
    categories = await _exposed_categories(context, tenant_id(request))
    return render(request, "new_ticket.html", {
        "values": values, "errors": errors, "categories": categories,
        "csrf_token": token, "stylesheet": public_stylesheet(workspace),
        "action": public_url(workspace, "/new") + "?csrf_token=" + quote(token, safe=""),
        "honeypot_field": HONEYPOT_FIELD, "max_attachments": MAX_ATTACHMENTS,
        "file_size": format_size(MAX_ATTACHMENT_BYTES),
        "total_size": format_size(MAX_TOTAL_BYTES),
    }, status_code=status_code)


async def _exposed_categories(context: AppContext, tenant: int) -> list[Category] | None:
    async with context.db.read() as session:
        settings = await load_settings(session, tenant)
        if not settings.expose_category:
            return None
        return await list_categories(session, tenant)


def _checked_email(value: str) -> str | None:
    try:
        return check_email(value)
    except InvalidInput:
        return None


def _subject_error(value: str) -> str | None:
    try:
        check_subject(value)
    except InvalidInput:
        length = len(_CONTROL.sub(" ", value).strip())
        if not length:
            return text("error.subject_required")
        return text("error.subject_too_long", length=length, max=MAX_SUBJECT)
    return None


def message_error(value: str) -> str | None:
    """Return why a message cannot be sent, or None when it can."""
    try:
        check_body(value)
    except InvalidInput:
        length = len(value.replace("\x00", "").strip())
        if not length:
            return text("error.message_required")
        return text("error.message_too_long", length=length, max=MAX_BODY)
    return None


def attachments_error(uploads: list[AttachmentUpload]) -> str | None:
    """Return why the files cannot be attached, or None when they can."""
    if len(uploads) > MAX_ATTACHMENTS:
        return text("error.attachments_too_many", count=len(uploads), max=MAX_ATTACHMENTS)
    for upload in uploads:
        if len(upload.data) > MAX_ATTACHMENT_BYTES:
            return text("error.attachment_too_large", filename=upload.filename,
                        size=format_size(len(upload.data)),
                        max=format_size(MAX_ATTACHMENT_BYTES))
    total = sum(len(upload.data) for upload in uploads)
    if total > MAX_TOTAL_BYTES:
        return text("error.attachments_too_large", size=format_size(total),
                    max=format_size(MAX_TOTAL_BYTES))
    return None


def _signed_in(request: Request) -> Principal | None:
    try:
        return principal(request)
    except NotAuthenticated:
        return None


def _too_many(request: Request, message: str, wait: int) -> Response:
    return message_page(request, title=text("limit.title"), message=message, status_code=429,
                        stylesheet=public_stylesheet(request.path_params["workspace"]),
                        headers={"retry-after": str(max(1, wait))})


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


def _redirect_to_confirmation(context: AppContext, tenant: int, workspace: str, *,
                              number: int) -> Response:
    token = confirmation_token(context, tenant, number)
    return RedirectResponse(public_url(workspace, f"/submitted/{token}"), status_code=303)


def _sign(context: AppContext, tenant: int, number: int, expires: int) -> str:
    if not context.signing_key:
        raise RuntimeError(f"App {context.app_id!r} has no signing key, so confirmation "
                           "links cannot be signed; load it through the portal's registry")
    message = f"ticketcloud-submitted:{tenant}:{number}:{expires}".encode()
    digest = hmac.new(context.signing_key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
