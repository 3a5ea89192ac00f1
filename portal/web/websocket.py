"""The desktop's one WebSocket: handshake checks, then the hub feeds it."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, MutableMapping
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from portal.auth.sessions import Principal
from portal.errors import InvalidInput
from portal.events.hub import Connection
from portal.sdk import SCOPE_PRINCIPAL
from portal.services import Services

logger = logging.getLogger(__name__)

CLOSE_POLICY = 1008
MAX_CLIENT_ERRORS = 10


def allowed_origins(websocket: WebSocket, services: Services) -> set[str]:
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    host = websocket.headers.get("host", "")
    return {f"{scheme}://{host}", *services.settings.allowed_origins}


def handshake_principal(websocket: WebSocket, services: Services) -> Principal | None:
    """Return the principal when the handshake may proceed: a session with the portal's
    own Origin, or an API token (scripts send no Origin and hold no ambient cookie)."""
    who: Principal | None = websocket.scope.get(SCOPE_PRINCIPAL)
    if who is None:
        return None
    origin = websocket.headers.get("origin")
    if who.via == "token" and origin is None:
        return who
    if origin not in allowed_origins(websocket, services):
        logger.warning("Rejected WebSocket of user %s from foreign origin %r", who.user_id,
                       origin)
        return None
    return who


def parse_after(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput(f"Invalid 'after' value {value!r}: send the last sequence "
                           "number seen, a non-negative integer.", field="after")
    return int(value)


async def desktop_socket(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    who = handshake_principal(websocket, services)
    if who is None:
        # Closing before accept makes the server reject the handshake with HTTP 403.
        await websocket.close(code=CLOSE_POLICY)
        return
    try:
        after = parse_after(websocket.query_params.get("after"))
    except InvalidInput as error:
        await websocket.accept()
        await websocket.send_json({"type": "error", **error.as_json()})
        await websocket.close(code=CLOSE_POLICY)
        return

    await websocket.accept()

    async def close(code: int, reason: str) -> None:
        # Both mean the desktop is gone already: RuntimeError when a close was sent
        # before, WebSocketDisconnect when the transport was lost.
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=code, reason=reason)

    connection = services.hub.new_connection(who, websocket.send_text, close)
    try:
        await services.hub.attach(connection, after)
        await _receive_loop(websocket, connection)
    except WebSocketDisconnect:
        pass
    finally:
        await services.hub.detach(connection)


async def _receive_loop(websocket: WebSocket, connection: Connection) -> None:
    errors = 0
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        problem = _handle(message, connection.offer_message)
        if problem is None:
            continue
        errors += 1
        connection.offer_message({"type": "error",
                                  "error": {"code": "invalid_message", "message": problem}})
        if errors >= MAX_CLIENT_ERRORS:
            logger.info("Closing WebSocket of user %s after %s invalid messages",
                        connection.principal.user_id, errors)
            # Through the connection, so the error messages queued before go out first.
            await connection.close_after_sending(CLOSE_POLICY, "too many invalid messages")
            return


def _handle(message: MutableMapping[str, Any],
            reply: Callable[[dict[str, Any]], None]) -> str | None:
    """Act on one client frame; return a description of what is wrong with it, if anything."""
    text = message.get("text")
    if not isinstance(text, str):
        return "Binary frames are not supported; send JSON text such as {\"type\": \"ping\"}."
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return f"The message is not valid JSON: {error}."
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return "The message must be a JSON object with a string 'type'."
    if data["type"] == "ping":
        reply({"type": "pong"})
        return None
    return f"Unknown message type {data['type'][:40]!r}; the only one accepted is 'ping'."


routes = [WebSocketRoute("/ws", desktop_socket)]
