"""Hello's routes: the window page, an endpoint that stores and publishes a greeting, and
an admin endpoint that publishes an announcement to every user of a role."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from portal import sdk

_PAGE = Path(__file__).resolve().parent / "static" / "index.html"
MAX_GREETING = 200
# Characters. The portal caps an event payload at 32 KiB of JSON, so a text with many
# non-ASCII characters (escaped as \uXXXX) is rejected below this length.
MAX_ANNOUNCEMENT = 30_000

# The table is created by this app's migration; Core is enough for one insert.
greetings = sa.Table(
    "hello_greeting", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.Integer, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("text", sa.String(MAX_GREETING), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


async def window(request: Request) -> Response:
    sdk.principal(request)
    return FileResponse(_PAGE, media_type="text/html")


async def greet(request: Request) -> Response:
    """Store a greeting and publish `hello.greeting` to the sender, with a toast."""
    who = sdk.principal(request)
    context = sdk.app_context(request)
    if not context.has_permission(who, "hello.greet"):
        raise sdk.Forbidden("Your role may not send greetings.")
    text = _greeting_text(await request.body())

    async with context.transaction() as session:
        result = await session.execute(greetings.insert().values(
            tenant_id=who.tenant_id, user_id=who.user_id, text=text,
            created_at=sdk.utcnow().replace(tzinfo=None)))
        greeting_id = int(result.inserted_primary_key[0])
        await context.publish(
            session, tenant_id=who.tenant_id, topic="hello.greeting",
            payload={"id": greeting_id, "text": text},
            audience=sdk.Audience.of(users=[who.user_id]),
            notification=sdk.Notification(title="Hello", body=text, open_app="hello",
                                          open_window="main",
                                          open_params={"greeting": str(greeting_id)}),
        )
    return JSONResponse({"id": greeting_id, "text": text}, status_code=201)


async def announce(request: Request) -> Response:
    """Publish `hello.announcement` to every user who has the requested role."""
    who = sdk.principal(request)
    context = sdk.app_context(request)
    if not context.has_permission(who, "hello.announce"):
        raise sdk.Forbidden("Only admins may send announcements.")
    text, role = _announcement(await request.body())

    async with context.transaction() as session:
        event = await context.publish(
            session, tenant_id=who.tenant_id, topic="hello.announcement",
            payload={"text": text, "role": role.value, "sender": who.name},
            audience=sdk.Audience.of(roles=[role]),
            notification=sdk.Notification(title=f"Announcement from {who.name}", body=text),
        )
    return JSONResponse({"seq": event.seq, "text": text, "role": role.value}, status_code=201)


async def list_greetings(request: Request) -> Response:
    who = sdk.principal(request)
    context = sdk.app_context(request)
    async with context.db.read() as session:
        rows = (await session.execute(
            sa.select(greetings.c.id, greetings.c.text, greetings.c.created_at)
            .where(greetings.c.tenant_id == who.tenant_id)
            .order_by(greetings.c.id.desc()).limit(20))).all()
    return JSONResponse({"greetings": [
        {"id": row.id, "text": row.text, "created_at": _iso(row.created_at)} for row in rows]})


def _json_object(body: bytes) -> dict[str, object]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise sdk.InvalidInput(f"The body is not valid JSON: {error}.") from error
    if not isinstance(data, dict):
        raise sdk.InvalidInput("Send a JSON object such as {\"text\": \"...\"}.")
    return data


def _greeting_text(body: bytes) -> str:
    text = _json_object(body).get("text")
    if not isinstance(text, str) or not text.strip():
        raise sdk.InvalidInput("Send {\"text\": \"...\"} with a non-empty greeting.",
                               field="text")
    if len(text) > MAX_GREETING:
        raise sdk.InvalidInput(f"The greeting is {len(text)} characters; the maximum is "
                               f"{MAX_GREETING}.", field="text")
    return text.strip()


def _announcement(body: bytes) -> tuple[str, sdk.Role]:
    data = _json_object(body)
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise sdk.InvalidInput("Send {\"text\": \"...\", \"role\": \"agent\"} with a non-empty "
                               "announcement.", field="text")
    if len(text) > MAX_ANNOUNCEMENT:
        raise sdk.InvalidInput(f"The announcement is {len(text)} characters; the maximum is "
                               f"{MAX_ANNOUNCEMENT}.", field="text")
    role = data.get("role")
    roles = [member.value for member in sdk.Role]
    if role not in roles:
        raise sdk.InvalidInput(f"Unknown role {role!r}: send one of {', '.join(roles)}.",
                               field="role")
    return text.strip(), sdk.Role(role)


def _iso(value: datetime | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


backend = sdk.AppBackend(routes=[
    Route("/", window, methods=["GET"]),
    Route("/api/greetings", list_greetings, methods=["GET"]),
    Route("/api/greetings", greet, methods=["POST"]),
    Route("/api/announcements", announce, methods=["POST"]),
])
