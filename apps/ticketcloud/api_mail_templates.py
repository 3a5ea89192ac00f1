"""REST API handlers for the workspace's mail templates (admins only)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from portal.sdk import Role, app_context, require_role, tenant_id
from ticketcloud.api_support import json_response, read_json
from ticketcloud.mail_templates import (
    SAMPLE_VALUES,
    TEMPLATE_FIELDS,
    VARIABLES,
    check_kind,
    check_templates,
    do_reset_template,
    do_set_template,
    load_template,
    render,
    template_view,
)
from ticketcloud.models import MailTemplateKind


async def list_templates(request: Request) -> Response:
    """Return every kind of mail with its current templates and the defaults."""
    require_role(request, Role.ADMIN)
    tenant = tenant_id(request)
    async with app_context(request).db.read() as session:
        items = [template_view(kind, await load_template(session, tenant, kind))
                 for kind in MailTemplateKind]
    return json_response({"variables": list(VARIABLES), "items": items})


async def replace_template(request: Request) -> Response:
    """Check and store the templates of one kind; 422 names the field and line."""
    who = require_role(request, Role.ADMIN)
    kind = check_kind(request.path_params["kind"])
    data = await read_json(request, allowed=TEMPLATE_FIELDS, required=("subject", "text"))
    async with app_context(request).transaction() as session:
        row = await do_set_template(session, tenant_id(request), kind, data,
                                    user_id=who.user_id)
        view = template_view(kind, row)
    return json_response(view)


async def reset_template(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    kind = check_kind(request.path_params["kind"])
    async with app_context(request).transaction() as session:
        await do_reset_template(session, tenant_id(request), kind)
    return Response(status_code=204)


async def preview_template(request: Request) -> Response:
    """Render templates sent in the body with sample values, without storing them."""
    require_role(request, Role.ADMIN)
    check_kind(request.path_params["kind"])
    data = await read_json(request, allowed=TEMPLATE_FIELDS, required=("subject", "text"))
    rendered = render(check_templates(data), SAMPLE_VALUES)
    return json_response({"subject": rendered.subject, "text": rendered.text,
                          "html": rendered.html, "values": SAMPLE_VALUES})
