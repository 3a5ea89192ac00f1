"""The Mail log window: inbound and outbound mail of the admin's workspace, with the
quarantine's errors and a replay action, and the outbox's attempts and a "retry now"
action. The portal's own code, so it reaches the services directly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from portal.errors import InvalidInput
from portal.mail.inbound_models import InboundMail, InboundStatus
from portal.mail.mail_log import check_filters, do_retry_now, mail_log, outbound_entry
from portal.models import Role
from portal.sdk import require_role
from portal.services import Services
from portal.web.responses import check_query_names, path_id

_PAGE = Path(__file__).resolve().parent / "static" / "mail.html"
MAX_LISTED = 200


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def mail_window(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    return FileResponse(_PAGE, media_type="text/html")


def mail_view(row: InboundMail) -> dict[str, Any]:
    return {"id": row.id, "app_id": row.app_id, "recipient": row.recipient,
            "envelope_sender": row.envelope_sender, "from": row.from_address,
            "subject": row.subject, "message_id": row.message_id, "size": row.size,
            "status": row.status.value, "outcome": row.outcome, "error": row.error,
            "attempts": row.attempts, "received_at": row.received_at.isoformat(),
            "processed_at": row.processed_at.isoformat() if row.processed_at else None}


async def list_mail(request: Request) -> Response:
    """Return the workspace's newest inbound messages, optionally of one status."""
    who = require_role(request, Role.ADMIN)
    check_query_names(request, ("status",))
    statement = select(InboundMail).where(InboundMail.tenant_id == who.tenant_id)
    status = request.query_params.get("status")
    if status is not None:
        try:
            statement = statement.where(InboundMail.status == InboundStatus(status))
        except ValueError:
            allowed = ", ".join(item.value for item in InboundStatus)
            raise InvalidInput(f"Invalid status {status!r}: use one of {allowed}.",
                               field="status") from None
    statement = statement.order_by(col(InboundMail.id).desc()).limit(MAX_LISTED)
    async with _services(request).db.read() as session:
        rows = (await session.exec(statement)).all()
    return JSONResponse({"items": [mail_view(row) for row in rows]})


async def replay_mail(request: Request) -> Response:
    """Process a quarantined message again; 404 for another workspace's message and 409
    for one that is not quarantined."""
    who = require_role(request, Role.ADMIN)
    inbound_id = path_id(request, "inbound_id")
    services = _services(request)
    status = await services.inbound.replay(who.tenant_id, inbound_id)
    async with services.db.read() as session:
        row = await session.get(InboundMail, inbound_id)
    assert row is not None
    return JSONResponse({"status": status.value, "item": mail_view(row)})


async def list_log(request: Request) -> Response:
    """Return the workspace's newest mail in both directions, filtered by `direction`
    (all, in, out) and `status` (any inbound or outbound status, or "problems")."""
    who = require_role(request, Role.ADMIN)
    check_query_names(request, ("direction", "status"))
    direction, status = check_filters(request.query_params.get("direction"),
                                      request.query_params.get("status"))
    async with _services(request).db.read() as session:
        items = await mail_log(session, who.tenant_id, direction=direction, status=status)
    return JSONResponse({"items": items})


async def retry_outbound(request: Request) -> Response:
    """Make a failed or waiting outbound message due now and wake the delivery worker."""
    who = require_role(request, Role.ADMIN)
    services = _services(request)
    async with services.db.transaction() as session:
        row = await do_retry_now(session, who.tenant_id, path_id(request, "outbox_id"))
        item = outbound_entry(row)
    services.mail.wake()
    return JSONResponse({"item": item})


routes = [
    Route("/mail", mail_window, methods=["GET"]),
    Route("/api/mail/log", list_log, methods=["GET"]),
    Route("/api/mail/outbox/{outbox_id:int}/retry", retry_outbound, methods=["POST"]),
    Route("/api/mail", list_mail, methods=["GET"]),
    Route("/api/mail/{inbound_id:int}/replay", replay_mail, methods=["POST"]),
]
