"""The rating page that a solved ticket's signed single-use link opens.

A forged, used or voided link (the ticket was reopened or closed since) gets the same
404 page and stores nothing; see `ratings.access_rating_ticket`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from portal.sdk import Conflict, InvalidInput, NotFound, app_context, csrf_token, tenant_id
from ticketcloud.models import Ticket
from ticketcloud.public_pages import message_page, public_stylesheet, public_url, render
from ticketcloud.public_text import text
from ticketcloud.public_uploads import FormTooLarge, FormUnreadable, form_text, read_form
from ticketcloud.ratings import MAX_COMMENT, access_rating_ticket, check_comment, do_rate
from ticketcloud.status import Status

logger = logging.getLogger(__name__)

SCORES = (1, 2, 3, 4, 5)


@dataclass
class RatingValues:
    """The rating form as the customer filled it in, to show it again."""

    score: str = ""
    comment: str = ""


async def rating_page(request: Request) -> Response:
    context = app_context(request)
    workspace = request.path_params["workspace"]
    token = request.path_params["token"]
    async with context.db.read() as session:
        try:
            ticket = await access_rating_ticket(context, session, tenant_id(request), token)
        except NotFound:
            return _invalid(request)
    if ticket.status is not Status.SOLVED:
        return not_solved_page(request, ticket, stylesheet=public_stylesheet(workspace))
    return rating_form(request, ticket, RatingValues(), {}, action=_action(workspace, token),
                       stylesheet=public_stylesheet(workspace))


async def submit_rating(request: Request) -> Response:
    context = app_context(request)
    tenant = tenant_id(request)
    workspace = request.path_params["workspace"]
    token = request.path_params["token"]
    values = await read_rating_values(request)
    score, comment, errors = check_rating(values)
    if score is None:
        async with context.db.read() as session:
            try:
                ticket = await access_rating_ticket(context, session, tenant, token)
            except NotFound:
                return _invalid(request)
        return rating_form(request, ticket, values, errors, action=_action(workspace, token),
                           stylesheet=public_stylesheet(workspace), status_code=422)
    try:
        async with context.transaction() as session:
            await do_rate(context, session, tenant_id=tenant, token=token, score=score,
                          comment=comment)
    except NotFound:
        return _invalid(request)
    except Conflict:
        return message_page(request, title=text("rate.not_solved_title"),
                            message=text("rate.not_solved_unknown"), status_code=409,
                            stylesheet=public_stylesheet(workspace))
    return RedirectResponse(public_url(workspace, "/rated"), status_code=303)


async def rated_page(request: Request) -> Response:
    return message_page(request, title=text("rate.thanks_title"), message=text("rate.thanks"),
                        status_code=200,
                        stylesheet=public_stylesheet(request.path_params["workspace"]))


async def read_rating_values(request: Request) -> RatingValues:
    """Return the rating form's fields; a body that cannot be read counts as empty."""
    try:
        form = await read_form(request)
    except (FormTooLarge, FormUnreadable) as error:
        logger.info("Rejected an unreadable rating form: %s", error)
        return RatingValues()
    try:
        return RatingValues(score=form_text(form, "score"), comment=form_text(form, "comment"))
    finally:
        await form.close()


def check_rating(values: RatingValues) -> tuple[int | None, str, dict[str, str]]:
    """Return the score and comment, or None and one message per invalid field."""
    errors: dict[str, str] = {}
    score = int(values.score) if values.score in {str(item) for item in SCORES} else None
    if score is None:
        errors["score"] = text("error.score_invalid")
    comment = ""
    try:
        comment = check_comment(values.comment)
    except InvalidInput:
        errors["comment"] = text("error.comment_too_long", length=len(values.comment.strip()),
                                 max=MAX_COMMENT)
    return (None if errors else score), comment, errors


def rating_form(request: Request, ticket: Ticket, values: RatingValues,
                errors: dict[str, str], *, action: str, stylesheet: str,
                status_code: int = 200, back_url: str | None = None) -> Response:
    return render(request, "rate.html", {
        "ticket": ticket, "values": values, "errors": errors, "scores": SCORES,
        "action": action, "csrf_token": csrf_token(request), "stylesheet": stylesheet,
        "max_comment": MAX_COMMENT, "back_url": back_url,
    }, status_code=status_code)


def not_solved_page(request: Request, ticket: Ticket, *, stylesheet: str) -> Response:
    return message_page(request, title=text("rate.not_solved_title"),
                        message=text("rate.not_solved", number=ticket.number),
                        status_code=409, stylesheet=stylesheet)


def _invalid(request: Request) -> Response:
    return message_page(request, title=text("rate.invalid_title"), message=text("rate.invalid"),
                        status_code=404,
                        stylesheet=public_stylesheet(request.path_params["workspace"]))


def _action(workspace: str, token: str) -> str:
    return public_url(workspace, f"/rate/{quote(token, safe='')}")
