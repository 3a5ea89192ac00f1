"""The Mail settings window and its JSON API: the workspace's mail addresses and IMAP
mailboxes. The SMTP relay has its own API at /api/admin/mail-settings, and an app's
support address is set through that app's own API (TicketCloud: /settings/mail), so
neither is repeated here. Admins only, always their own workspace."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from portal.mail.imap_admin import (
    access_mailbox,
    do_create_mailbox,
    do_delete_mailbox,
    do_update_mailbox,
    list_mailboxes,
    mailbox_view,
)
from portal.mail.inbound_models import MailRoute
from portal.models import Role
from portal.registry.installed import is_installed
from portal.sdk import require_role
from portal.services import Services
from portal.web.responses import path_id, read_json_object

_PAGE = Path(__file__).resolve().parent / "static" / "mail_settings.html"
MAX_BODY = 16 * 1024


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def mail_settings_window(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    return FileResponse(_PAGE, media_type="text/html")


async def mail_apps(services: Services, tenant_id: int) -> set[str]:
    """Return the ids of the apps installed for the tenant that have a mail handler."""
    async with services.db.read() as session:
        return {app_id for app_id, app in services.registry.apps.items()
                if app.backend.mail_handler is not None
                and await is_installed(session, services.registry, tenant_id, app_id)}


async def list_addresses(request: Request) -> Response:
    """Return the workspace's mail addresses and the app each delivers to, with the apps
    that can receive mail."""
    who = require_role(request, Role.ADMIN)
    services = _services(request)
    async with services.db.read() as session:
        routes = (await session.exec(select(MailRoute).where(
            MailRoute.tenant_id == who.tenant_id).order_by(col(MailRoute.address)))).all()
    apps = sorted(await mail_apps(services, who.tenant_id))
    return JSONResponse({
        "items": [{"address": route.address, "app_id": route.app_id} for route in routes],
        "mail_apps": [{"id": app_id, "name": services.registry.apps[app_id].manifest.name}
                      for app_id in apps]})


async def list_mailboxes_route(request: Request) -> Response:
    who = require_role(request, Role.ADMIN)
    async with _services(request).db.read() as session:
        mailboxes = await list_mailboxes(session, who.tenant_id)
    return JSONResponse({"items": [mailbox_view(mailbox) for mailbox in mailboxes]})


async def create_mailbox(request: Request) -> Response:
    who = require_role(request, Role.ADMIN)
    services = _services(request)
    data = await read_json_object(request, max_bytes=MAX_BODY,
                                  hint='of the mailbox fields')
    app_ids = await mail_apps(services, who.tenant_id)
    async with services.db.transaction() as session:
        mailbox = await do_create_mailbox(session, who.tenant_id, data, app_ids=app_ids)
        view = mailbox_view(mailbox)
    return JSONResponse(view, status_code=201)


async def update_mailbox(request: Request) -> Response:
    """Change the fields sent; leave `password` out to keep the stored one."""
    who = require_role(request, Role.ADMIN)
    services = _services(request)
    data = await read_json_object(request, max_bytes=MAX_BODY,
                                  hint='of the mailbox fields')
    app_ids = await mail_apps(services, who.tenant_id)
    async with services.db.transaction() as session:
        mailbox = await do_update_mailbox(session, who.tenant_id,
                                          path_id(request, "mailbox_id"), data,
                                          app_ids=app_ids)
        view = mailbox_view(mailbox)
    return JSONResponse(view)


async def delete_mailbox(request: Request) -> Response:
    who = require_role(request, Role.ADMIN)
    async with _services(request).db.transaction() as session:
        await do_delete_mailbox(session, who.tenant_id, path_id(request, "mailbox_id"))
    return Response(status_code=204)


async def check_mailbox(request: Request) -> Response:
    """Sign in with the stored settings and report the outcome; nothing is fetched."""
    who = require_role(request, Role.ADMIN)
    services = _services(request)
    async with services.db.read() as session:
        mailbox = await access_mailbox(session, who.tenant_id,
                                       path_id(request, "mailbox_id"))
    check = await services.imap.check_connection(mailbox)
    return JSONResponse({"ok": check.ok, "message": check.message,
                         "messages": check.messages, "unseen": check.unseen})


async def poll_mailbox(request: Request) -> Response:
    """Poll the mailbox now and return what the poll did and the mailbox's new state."""
    who = require_role(request, Role.ADMIN)
    services = _services(request)
    mailbox_id = path_id(request, "mailbox_id")
    async with services.db.read() as session:
        await access_mailbox(session, who.tenant_id, mailbox_id)
    result = await services.imap.poll(mailbox_id)
    async with services.db.read() as session:
        mailbox = await access_mailbox(session, who.tenant_id, mailbox_id)
    return JSONResponse({"ok": result.ok, "stored": result.stored,
                         "duplicates": result.duplicates, "skipped": result.skipped,
                         "error": result.error, "mailbox": mailbox_view(mailbox)})


_MAILBOX = "/api/mail/mailboxes/{mailbox_id:int}"
routes = [
    Route("/mail-settings", mail_settings_window, methods=["GET"]),
    Route("/api/mail/addresses", list_addresses, methods=["GET"]),
    Route("/api/mail/mailboxes", list_mailboxes_route, methods=["GET"]),
    Route("/api/mail/mailboxes", create_mailbox, methods=["POST"]),
    Route(_MAILBOX, update_mailbox, methods=["PATCH"]),
    Route(_MAILBOX, delete_mailbox, methods=["DELETE"]),
    Route(_MAILBOX + "/check", check_mailbox, methods=["POST"]),
    Route(_MAILBOX + "/poll", poll_mailbox, methods=["POST"]),
]
