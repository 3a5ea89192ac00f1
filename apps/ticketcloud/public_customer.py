"""The customer portal: a signed-in customer's own tickets, their public conversation,
replies, attachments and ratings.

Pages render `views.public_view`, an allow-list, so internal notes, history, rules,
tags, the team and the assignee never reach a template. Another customer's ticket is
not found, exactly like a ticket that does not exist.

TODO: customers without a password should sign in through a link sent by email; until
then they need an account that an admin created.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from portal.sdk import (
    Conflict,
    InvalidInput,
    NotFound,
    Principal,
    Role,
    access_row,
    app_context,
    csrf_token,
    require_role,
)
from ticketcloud.attachments import attachment_path, message_attachments
from ticketcloud.categories import access_category
from ticketcloud.conversation import Author, do_reply
from ticketcloud.mail_views import add_mail_details
from ticketcloud.models import Attachment, Message, Rating, Ticket, Visibility
from ticketcloud.public_form import attachments_error, message_error
from ticketcloud.public_pages import (
    APP_ROOT,
    CUSTOMER_STYLESHEET,
    message_page,
    public_url,
    render,
)
from ticketcloud.public_rating import (
    RatingValues,
    check_rating,
    not_solved_page,
    rating_form,
    read_rating_values,
)
from ticketcloud.public_text import format_size, text
from ticketcloud.public_uploads import (
    MAX_FORM_BYTES,
    FormTooLarge,
    FormUnreadable,
    form_text,
    form_uploads,
    read_form,
)
from ticketcloud.ratings import do_issue_rating_token, do_rate
from ticketcloud.settings import load_settings
from ticketcloud.status import Status
from ticketcloud.tickets import MAX_LIST, access_ticket, list_customer_tickets, ticket_messages
from ticketcloud.views import CUSTOMER_STATUS, iso, public_view

logger = logging.getLogger(__name__)

MY_ROOT = f"{APP_ROOT}/my"


async def my_tickets(request: Request) -> Response:
    who = require_role(request, Role.CUSTOMER)
    async with app_context(request).db.read() as session:
        tickets = await list_customer_tickets(session, who, limit=MAX_LIST)
    rows = [{"number": ticket.number, "subject": ticket.subject,
             "status": CUSTOMER_STATUS[ticket.status],
             "updated_at": iso(ticket.updated_at),
             "url": f"{MY_ROOT}/{ticket.number}"} for ticket in tickets]
    return render(request, "my_tickets.html", {
        "who": who, "tickets": rows, "stylesheet": CUSTOMER_STYLESHEET,
        "new_url": public_url(who.tenant_slug, "/new"),
    })


async def my_ticket(request: Request) -> Response:
    who = require_role(request, Role.CUSTOMER)
    return await _ticket_page(request, who, request.path_params["number"])


async def submit_reply(request: Request) -> Response:
    who = require_role(request, Role.CUSTOMER)
    number: int = request.path_params["number"]
    try:
        form = await read_form(request)
    except FormTooLarge:
        return await _ticket_page(request, who, number, errors={
            "attachments": text("error.form_too_large", max=format_size(MAX_FORM_BYTES))},
            status_code=413)
    except FormUnreadable as error:
        logger.info("Rejected an unreadable reply of user %s: %s", who.user_id, error)
        return await _ticket_page(request, who, number, errors={
            "attachments": text("error.form_unreadable")}, status_code=400)
    try:
        body = form_text(form, "message")
        uploads = await form_uploads(form, "attachments")
    finally:
        await form.close()

    errors = {name: message for name, message in (
        ("message", message_error(body)), ("attachments", attachments_error(uploads)))
        if message}
    if errors:
        return await _ticket_page(request, who, number, errors=errors, reply=body,
                                  status_code=422)
    context = app_context(request)
    try:
        async with context.transaction() as session:
            ticket = await access_ticket(session, who.tenant_id, number, who)
            await do_reply(context, session, ticket, author=Author.of_principal(who), body=body,
                           attachments=uploads)
    except NotFound:
        return _not_found(request, text("my.not_found", number=number))
    except Conflict as error:
        message = (text("my.closed") if error.code == "ticket_closed"
                   else text("my.reply_conflict"))
        return await _ticket_page(request, who, number, errors={"message": message},
                                  reply=body, status_code=409)
    except InvalidInput as error:
        field = "attachments" if error.field == "attachments" else "message"
        return await _ticket_page(request, who, number, errors={field: error.message},
                                  reply=body, status_code=422)
    return RedirectResponse(f"{MY_ROOT}/{number}", status_code=303)


async def my_rating_page(request: Request) -> Response:
    who = require_role(request, Role.CUSTOMER)
    number: int = request.path_params["number"]
    async with app_context(request).db.read() as session:
        try:
            ticket = await access_ticket(session, who.tenant_id, number, who)
        except NotFound:
            return _not_found(request, text("my.not_found", number=number))
        rating = await _rating_of(session, ticket)
    if ticket.status is not Status.SOLVED:
        return not_solved_page(request, ticket, stylesheet=CUSTOMER_STYLESHEET)
    values = (RatingValues(score=str(rating.score), comment=rating.comment) if rating
              else RatingValues())
    return rating_form(request, ticket, values, {}, action=f"{MY_ROOT}/{number}/rate",
                       stylesheet=CUSTOMER_STYLESHEET, back_url=f"{MY_ROOT}/{number}")


async def submit_my_rating(request: Request) -> Response:
    """Rate a solved ticket of the signed-in customer. The sign-in replaces the emailed
    link, so a fresh rating token is issued and spent in one transaction."""
    who = require_role(request, Role.CUSTOMER)
    number: int = request.path_params["number"]
    context = app_context(request)
    values = await read_rating_values(request)
    score, comment, errors = check_rating(values)
    try:
        async with context.transaction() as session:
            ticket = await access_ticket(session, who.tenant_id, number, who)
            if score is None:
                return rating_form(request, ticket, values, errors,
                                   action=f"{MY_ROOT}/{number}/rate",
                                   stylesheet=CUSTOMER_STYLESHEET,
                                   back_url=f"{MY_ROOT}/{number}", status_code=422)
            token = await do_issue_rating_token(context, session, ticket)
            await do_rate(context, session, tenant_id=who.tenant_id, token=token, score=score,
                          comment=comment)
    except NotFound:
        return _not_found(request, text("my.not_found", number=number))
    except Conflict:
        return message_page(request, title=text("rate.not_solved_title"),
                            message=text("rate.not_solved", number=number), status_code=409,
                            stylesheet=CUSTOMER_STYLESHEET)
    return RedirectResponse(f"{MY_ROOT}/{number}", status_code=303)


async def my_attachment(request: Request) -> Response:
    """Send an attachment of a public message of the customer's ticket as a download."""
    who = require_role(request, Role.CUSTOMER)
    number: int = request.path_params["number"]
    context = app_context(request)
    async with context.db.read() as session:
        try:
            ticket = await access_ticket(session, who.tenant_id, number, who)
            attachment = await access_row(session, Attachment, who.tenant_id,
                                          request.path_params["attachment_id"])
        except NotFound:
            return _not_found(request, text("my.attachment_not_found"))
        message = await session.get(Message, attachment.message_id)
    if (message is None or message.ticket_id != ticket.id
            or message.visibility is not Visibility.PUBLIC):
        return _not_found(request, text("my.attachment_not_found"))
    # Always a download as opaque bytes: an uploaded HTML or SVG file must never render
    # in the portal's origin.
    return FileResponse(attachment_path(context, attachment), filename=attachment.filename,
                        media_type="application/octet-stream",
                        content_disposition_type="attachment",
                        headers={"content-security-policy": "sandbox; default-src 'none'"})


async def _ticket_page(request: Request, who: Principal, number: int, *,
                       errors: dict[str, str] | None = None, reply: str = "",
                       status_code: int = 200) -> Response:
    context = app_context(request)
    async with context.db.read() as session:
        try:
            ticket = await access_ticket(session, who.tenant_id, number, who)
        except NotFound:
            return _not_found(request, text("my.not_found", number=number))
        messages = await ticket_messages(session, ticket, include_internal=False)
        attachments = await message_attachments(
            session, who.tenant_id, [message.id for message in messages if message.id])
        category_name = await _exposed_category(session, ticket)
        rating = await _rating_of(session, ticket)
        view: dict[str, Any] = public_view(ticket, messages, attachments=attachments,
                                           category_name=category_name)
        await add_mail_details(session, ticket, view, agent=False)
    token = csrf_token(request)
    return render(request, "my_ticket.html", {
        "who": who, "ticket": view, "errors": errors or {}, "reply": reply,
        "stylesheet": CUSTOMER_STYLESHEET, "list_url": MY_ROOT,
        "attachment_url": f"{MY_ROOT}/{number}/attachments/",
        "reply_action": f"{MY_ROOT}/{number}/reply?csrf_token={quote(token, safe='')}",
        "csrf_token": token,
        "rate_url": f"{MY_ROOT}/{number}/rate" if ticket.status is Status.SOLVED else None,
        "rating": rating.score if rating else None,
    }, status_code=status_code)


async def _exposed_category(session: AsyncSession, ticket: Ticket) -> str | None:
    if ticket.category_id is None:
        return None
    settings = await load_settings(session, ticket.tenant_id)
    if not settings.expose_category:
        return None
    try:
        return (await access_category(session, ticket.tenant_id, ticket.category_id)).name
    except NotFound:
        return None


async def _rating_of(session: AsyncSession, ticket: Ticket) -> Rating | None:
    return (await session.exec(select(Rating).where(
        Rating.tenant_id == ticket.tenant_id, Rating.ticket_id == ticket.id))).first()


def _not_found(request: Request, message: str) -> Response:
    return message_page(request, title=text("my.not_found_title"), message=message,
                        status_code=404, stylesheet=CUSTOMER_STYLESHEET)
