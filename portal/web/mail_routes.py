"""The admin JSON API for the workspace's outgoing mail settings (sender and relay)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal.mail.outbound_relay import do_update_mail_settings, load_mail_settings, settings_view
from portal.mail.outbox import do_release_no_relay
from portal.models import Role
from portal.sdk import require_role
from portal.services import Services
from portal.web.responses import read_json_object

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
    changes = await read_json_object(request, max_bytes=MAX_BODY,
                                     hint='of the settings to change')
    async with services.db.transaction() as session:
        settings = await do_update_mail_settings(session, who.tenant_id, changes)
        await do_release_no_relay(session, tenant_id=who.tenant_id)
        sender = await services.mail.sender(session, who.tenant_id)
        view = settings_view(settings, default_relay=services.mail.default_relay,
                             default_from=sender.email)
    services.mail.wake()
    return JSONResponse(view)


routes = [
    Route("/api/admin/mail-settings", get_mail_settings, methods=["GET"]),
    Route("/api/admin/mail-settings", update_mail_settings, methods=["PUT"]),
]
