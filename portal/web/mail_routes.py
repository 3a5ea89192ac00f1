"""The admin JSON API for the workspace's outgoing mail settings (sender and relay)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.errors import InvalidInput
from portal.mail.outbound_relay import do_update_mail_settings, load_mail_settings, settings_view
from portal.mail.outbox import do_release_no_relay
from portal.models import Role
from portal.sdk import require_role
from portal.services import Services

MAX_BODY = 16 * 1024


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def get_mail_settings(request: Request) -> Response:
    who = require_role(request, Role.ADMIN)
    services = _services(request)
    async with services.db.read() as session:
        settings = await load_mail_settings(session, who.tenant_id)
        sender = await services.mail.sender(session, who.tenant_id)
    return JSONResponse(settings_view(settings, default_relay=services.mail.default_relay,
                                      default_from=sender.email))


async def update_mail_settings(request: Request) -> Response:
    """Change the settings sent; mail that waited for a relay becomes due at once."""
    who = require_role(request, Role.ADMIN)
    services = _services(request)
    changes = await _read_object(request)
    async with services.db.transaction() as session:
        settings = await do_update_mail_settings(session, who.tenant_id, changes)
        await do_release_no_relay(session, tenant_id=who.tenant_id)
        sender = await services.mail.sender(session, who.tenant_id)
        view = settings_view(settings, default_relay=services.mail.default_relay,
                             default_from=sender.email)
    services.mail.wake()
    return JSONResponse(view)


async def _read_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidInput(f"The request body is {len(body)} bytes; the maximum is {MAX_BODY}.")
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidInput("The request body is not valid JSON; send a JSON object.") from None
    if not isinstance(data, dict):
        raise InvalidInput("Send a JSON object of the settings to change.")
    return data


routes = [
    Route("/api/admin/mail-settings", get_mail_settings, methods=["GET"]),
    Route("/api/admin/mail-settings", update_mail_settings, methods=["PUT"]),
]
