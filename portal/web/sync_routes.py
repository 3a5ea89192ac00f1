"""The master's sync endpoint: `POST /sync/v1/push`, signed XML in, XML out.

It is outside the app gate and the CSRF check: the request carries no cookie or token,
and the HMAC signature over the body is its only credential.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.services import Services
from portal.sync.envelope import MEDIA_TYPE, build_error
from portal.sync.parser import MAX_DOCUMENT_BYTES

PUSH_PATH = "/sync/v1/push"


async def push(request: Request) -> Response:
    services: Services = request.app.state.services
    receiver = services.sync_receiver
    assert receiver is not None, "build the services with build_services()"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_DOCUMENT_BYTES:
        return _too_large(int(declared))
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_DOCUMENT_BYTES:
            # Stop reading at once: the rest of an oversized body is never buffered.
            return _too_large(len(body))
    result = await receiver.receive(request.headers, bytes(body))
    return Response(result.body, status_code=result.status, media_type=MEDIA_TYPE)


def _too_large(size: int) -> Response:
    message = (f"The request body has more than {MAX_DOCUMENT_BYTES} bytes ({size} read); "
               "send smaller batches.")
    return Response(build_error("too_large", 413, message), status_code=413,
                    media_type=MEDIA_TYPE)


routes = [Route(PUSH_PATH, push, methods=["POST"])]
