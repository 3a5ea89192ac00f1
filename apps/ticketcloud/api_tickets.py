"""REST API handlers for tickets, their messages and their history.

Agents and admins see every ticket of their workspace in the agent view. Customers see
only the tickets they requested, in the public view, which leaves out internal notes
and the history. A ticket of another workspace or another customer is not found (404),
and an action that the caller's role never allows is forbidden (403).
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from portal.sdk import (
    AppContext,
    Conflict,
    Forbidden,
    InvalidInput,
    Principal,
    app_context,
    is_mailable,
    principal,
    tenant_id,
)
from ticketcloud.api_listing import PARAMETERS, check_ticket_query, search_tickets
from ticketcloud.api_support import (
    check_query,
    is_agent,
    json_response,
    path_id,
    read_json,
    require_agent,
)
from ticketcloud.attachments import message_attachments
from ticketcloud.categories import access_category
from ticketcloud.checks import check_optional_id
from ticketcloud.conversation import Author, do_reply
from ticketcloud.history import ticket_history
from ticketcloud.mail_bounces import skipped_mail
from ticketcloud.mail_out import failed_mail
from ticketcloud.mail_views import add_mail_details, html_document
from ticketcloud.models import Message, Ticket, Visibility
from ticketcloud.settings import load_settings
from ticketcloud.sla.listing import add_next_due
from ticketcloud.sla.targets import target_json, ticket_targets
from ticketcloud.tickets import (
    CreatedTicket,
    access_ticket,
    do_create_ticket_with_rows,
    ticket_messages,
)
from ticketcloud.updates import EDITABLE, LOCAL_DUE, do_update_ticket
from ticketcloud.views import agent_view, public_view

CREATE_FIELDS = ("subject", "body", "requester_email", "requester_name", "category_id")
REPLY_FIELDS = ("body",)


async def list_tickets(request: Request) -> Response:
    who = principal(request)
    customer = not is_agent(who)
    query = check_ticket_query(check_query(request, PARAMETERS), who, customer=customer)
    async with app_context(request).db.read() as session:
        page = await search_tickets(session, who, query, customer=customer)
        items = [await _summary(session, ticket, customer=customer) for ticket in page.tickets]
        if not customer:
            await add_next_due(session, who.tenant_id, page.tickets, items)
    next_link = (str(request.url.remove_query_params(["cursor", "page"])
                     .include_query_params(**page.next_params))
                 if page.next_params is not None else None)
    return json_response({"items": items, "next": next_link})


async def create_ticket(request: Request) -> Response:
    """Create a ticket from the API channel. Customers open tickets for themselves, so
    only agents and admins may name a requester."""
    who = principal(request)
    data = await read_json(request, allowed=CREATE_FIELDS, required=("subject", "body"))
    if is_agent(who):
        if "requester_email" not in data:
            raise InvalidInput("The field 'requester_email' is missing; agents create "
                               "tickets for a requester.", field="requester_email")
        requester = {"requester_email": data["requester_email"],
                     "requester_name": data.get("requester_name", ""),
                     "requester_user_id": None}
    else:
        for name in ("requester_email", "requester_name"):
            if name in data:
                raise Forbidden(f"Customers open tickets for themselves; remove {name!r}.",
                                field=name)
        requester = {"requester_email": who.email, "requester_name": who.name,
                     "requester_user_id": who.user_id}
    context = app_context(request)
    async with context.transaction() as session:
        created = await do_create_ticket_with_rows(
            context, session, tenant_id=tenant_id(request), subject=data["subject"],
            body=data["body"], channel="api",
            # Checked here, so that an error names the API's field.
            category=check_optional_id(data.get("category_id"), field="category_id"),
            **requester)
        view = await _created_view(session, created, who)
    location = f"{request.url.path}/{created.ticket.number}"
    return json_response(view, status_code=201, headers={"Location": location})


async def get_ticket(request: Request) -> Response:
    who = principal(request)
    async with app_context(request).db.read() as session:
        ticket = await access_ticket(session, tenant_id(request), _number(request), who)
        return json_response(await _full_view(app_context(request), session, ticket, who))


async def update_ticket(request: Request) -> Response:
    """Change an agent's fields of a ticket. `version` must be the version the caller
    loaded; a ticket changed since raises Conflict `stale_version` (409). The agent's
    due time comes as `due_at` or as `due_local` with `time_zone`."""
    who = require_agent(request)
    data = await read_json(request, allowed=(*EDITABLE, *LOCAL_DUE, "version"),
                           required=("version",))
    version = data.pop("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidInput(f"Invalid version {version!r}: send the ticket's version as "
                           "loaded, a whole number.", field="version")
    context = app_context(request)
    async with context.transaction() as session:
        ticket = await access_ticket(session, tenant_id(request), _number(request), who)
        try:
            ticket = await do_update_ticket(context, session, ticket, actor=who,
                                            expected_version=version, changes=data)
        except Conflict as error:
            # The domain names its argument expected_version; the API's field is version.
            if error.code == "stale_version":
                error.field = "version"
            raise
        view = await _full_view(context, session, ticket, who)
    return json_response(view)


async def list_messages(request: Request) -> Response:
    who = principal(request)
    context = app_context(request)
    async with context.db.read() as session:
        ticket = await access_ticket(session, tenant_id(request), _number(request), who)
        view = await _full_view(context, session, ticket, who)
    return json_response({"items": view["messages"]})


async def add_reply(request: Request) -> Response:
    """Add a public reply by the caller; a customer's reply reopens a solved ticket."""
    return await _add_message(request, Visibility.PUBLIC)


async def add_note(request: Request) -> Response:
    """Add an internal note. Customers get 403 whatever the ticket, since their role
    never writes notes, so the response reveals nothing about the ticket."""
    require_agent(request)
    return await _add_message(request, Visibility.INTERNAL)


async def get_history(request: Request) -> Response:
    who = require_agent(request)
    async with app_context(request).db.read() as session:
        ticket = await access_ticket(session, tenant_id(request), _number(request), who)
        view = agent_view(ticket, (), history=await ticket_history(session, ticket))
    return json_response({"items": view["history"]})


async def get_message_html(request: Request) -> Response:
    """Return the HTML version of a mail message, as a document for a sandboxed iframe
    (agents only)."""
    who = require_agent(request)
    context = app_context(request)
    async with context.db.read() as session:
        ticket = await access_ticket(session, tenant_id(request), _number(request), who)
        document = await html_document(context, session, ticket,
                                       path_id(request, "message_id"))
    return json_response({"document": document})


async def _add_message(request: Request, visibility: Visibility) -> Response:
    who = principal(request)
    data = await read_json(request, allowed=REPLY_FIELDS, required=REPLY_FIELDS)
    context = app_context(request)
    async with context.transaction() as session:
        ticket = await access_ticket(session, tenant_id(request), _number(request), who)
        message = await do_reply(context, session, ticket, author=Author.of_principal(who),
                                 body=data["body"], visibility=visibility.value)
        view = await message_view(session, ticket, message, who)
    return json_response(view, status_code=201)


async def message_view(session: AsyncSession, ticket: Ticket, message: Message,
                       who: Principal) -> dict[str, Any]:
    """Return one message as the caller's view of the ticket shows it."""
    assert message.id is not None
    attachments = await message_attachments(session, ticket.tenant_id, [message.id])
    if is_agent(who):
        view = agent_view(ticket, [message], attachments=attachments)
    else:
        view = public_view(ticket, [message], attachments=attachments)
    item: dict[str, Any] = view["messages"][0]
    return item


async def _full_view(context: AppContext, session: AsyncSession, ticket: Ticket,
                     who: Principal) -> dict[str, Any]:
    """Return the ticket as visible to `who`."""
    agent = is_agent(who)
    messages = await ticket_messages(session, ticket, include_internal=agent)
    attachments = await message_attachments(session, ticket.tenant_id,
                                            [message.id for message in messages if message.id])
    if agent:
        view = agent_view(ticket, messages, attachments=attachments,
                          history=await ticket_history(session, ticket))
        view["sla"] = [target_json(target) for target in await ticket_targets(session, ticket)]
        view["mail_errors"] = await failed_mail(context, session, ticket)
    else:
        view = public_view(ticket, messages, attachments=attachments,
                           category_name=await _category_name(session, ticket))
    await add_mail_details(session, ticket, view, agent=agent)
    return view


async def _created_view(session: AsyncSession, created: CreatedTicket,
                        who: Principal) -> dict[str, Any]:
    """Return a ticket created through the API in this transaction as visible to `who`,
    built from the rows just written. Its only message is public, and no mail of it was
    sent or received yet, so nothing is read back, except the skip that the confirmation
    recorded for a requester address the outbox cannot send to."""
    ticket, messages = created.ticket, [created.message]
    if is_agent(who):
        view = agent_view(ticket, messages, attachments=created.attachments,
                          history=created.history)
        view["sla"] = [target_json(target) for target in created.sla_targets]
        view["mail_errors"] = []
        view["participants"] = []
        view["bouncing"] = []
        view["mail_skipped"] = ([] if is_mailable(ticket.requester_email)
                                else await skipped_mail(session, ticket))
    else:
        view = public_view(ticket, messages, attachments=created.attachments,
                           category_name=await _category_name(session, ticket))
    for item in view["messages"]:
        item["mail"] = None
    return view


async def _summary(session: AsyncSession, ticket: Ticket, *, customer: bool) -> dict[str, Any]:
    """Return a ticket of a list: its view without messages and history."""
    if customer:
        view = public_view(ticket, (), category_name=await _category_name(session, ticket))
    else:
        view = agent_view(ticket, ())
        del view["history"]
    del view["messages"]
    return view


async def _category_name(session: AsyncSession, ticket: Ticket) -> str | None:
    """Return the category's name when the workspace shows categories to customers."""
    if ticket.category_id is None or not (await load_settings(
            session, ticket.tenant_id)).expose_category:
        return None
    return (await access_category(session, ticket.tenant_id, ticket.category_id)).name


def _number(request: Request) -> int:
    return path_id(request, "number")
