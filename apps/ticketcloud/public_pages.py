"""Rendering of TicketCloud's server-rendered pages for customers and visitors.

Every value reaches the HTML through Jinja2 with autoescaping on, and the pages carry no
script at all, so text that a visitor typed (a subject, a name, a file name) always shows
as text. The Content-Security-Policy below would block an injected script even if a
template escaped something wrongly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.templating import Jinja2Templates

from ticketcloud.checks import MAX_BODY
from ticketcloud.public_text import format_size, text

APP_ROOT = "/apps/ticketcloud"
_HERE = Path(__file__).resolve().parent
STYLESHEET = _HERE / "static" / "public.css"

CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; "
                           "form-action 'self'; base-uri 'none'; frame-ancestors 'self'")

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def isolated_text(key: str, /, **values: object) -> Markup:
    """Return `text(key, **values)` as markup with each value escaped in its own `<bdi>`.

    A value written by a user may carry right-to-left overrides or script, and the isolate
    keeps those from reordering the words around it. Only for element content: a
    `<title>` shows markup as text, so titles keep `text`.
    """
    isolated = {name: Markup("<bdi>{}</bdi>").format(value) for name, value in values.items()}
    return escape(text(key)).format(**isolated)


_environment.globals.update(text=text, isolated_text=isolated_text, format_size=format_size,
                            max_body=MAX_BODY)
TEMPLATES = Jinja2Templates(env=_environment)


def render(request: Request, template: str, context: dict[str, Any], *,
           status_code: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render `template` with the policy headers every page of this app gets."""
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status_code,
                                          headers=headers)
    response.headers["content-security-policy"] = CONTENT_SECURITY_POLICY
    response.headers["cache-control"] = "no-store"
    return response


def message_page(request: Request, *, title: str, message: str, status_code: int,
                 stylesheet: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    """Render a page that only states one outcome, such as an invalid link."""
    return render(request, "message.html",
                  {"title": title, "message": message, "stylesheet": stylesheet},
                  status_code=status_code, headers=headers)


def public_url(workspace: str, path: str = "") -> str:
    """Return the URL of a public page of `workspace`; `path` starts with a slash."""
    return f"{APP_ROOT}/public/{quote(workspace, safe='')}{path}"


def public_stylesheet(workspace: str) -> str:
    return public_url(workspace, "/public.css")


# Signed-in customers may load the app's static folder, which contains the same file.
CUSTOMER_STYLESHEET = f"{APP_ROOT}/static/public.css"


async def stylesheet(request: Request) -> Response:
    """Serve public.css to visitors, who cannot load the signed-in static folder."""
    return FileResponse(STYLESHEET, media_type="text/css",
                        headers={"cache-control": "public, max-age=300"})
