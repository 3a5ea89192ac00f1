"""REST API handlers for uploading and downloading attachments.

NOTE: a download is always served as an attachment with `X-Content-Type-Options:
nosniff`, and with its stored content type only when that type is in SAFE_TYPES. An
uploaded HTML or SVG file, whatever name and type the uploader gave it, therefore
reaches the browser as application/octet-stream, which the browser saves instead of
rendering in the portal's origin, where its scripts could act as the signed-in user.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from portal.sdk import (
    InvalidInput,
    NotFound,
    PortalError,
    Principal,
    app_context,
    principal,
    tenant_id,
)
from ticketcloud.api_support import is_agent, json_response, path_id
from ticketcloud.api_tickets import message_view
from ticketcloud.attachments import (
    DEFAULT_CONTENT_TYPE,
    MAX_ATTACHMENTS,
    MAX_TOTAL_BYTES,
    AttachmentUpload,
    attachment_path,
    check_attachments,
)
from ticketcloud.conversation import Author, do_reply
from ticketcloud.models import Attachment, Message, Ticket, Visibility
from ticketcloud.tickets import access_ticket

logger = logging.getLogger(__name__)

# Content types sent as they are, because browsers display them without running scripts.
SAFE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp",
                        "application/pdf", "text/plain"})
# Room for the multipart boundaries, part headers and the text fields around the files.
MULTIPART_OVERHEAD = 256 * 1024
MAX_UPLOAD_BYTES = MAX_TOTAL_BYTES + MULTIPART_OVERHEAD
UPLOAD_FIELDS = frozenset({"file", "body", "visibility"})


class PayloadTooLarge(PortalError):
    code = "too_large"
    status = 413


async def upload_attachments(request: Request) -> Response:
    """Add a message with the uploaded files (`file` parts) to a ticket. `body` is the
    message text; without one, the message lists the file names. `visibility` is public
    (the default) or internal, which only agents and admins may choose."""
    who = principal(request)
    _check_length(request)
    async with request.form(max_files=MAX_ATTACHMENTS + 1, max_fields=10) as form:
        for name in form:
            if name not in UPLOAD_FIELDS:
                raise InvalidInput(f"Unknown form field {name!r}; send file, body and "
                                   "visibility.", field=name)
        files = [item for item in form.getlist("file") if isinstance(item, UploadFile)]
        if not files:
            raise InvalidInput("No file was uploaded; send each file as a 'file' part of a "
                               "multipart/form-data body.", field="file")
        # Checked here already, so that the default body names the stored file names.
        uploads = check_attachments([await _read_upload(item) for item in files])
        body = _text_field(form.get("body")) or "Attached " + ", ".join(
            upload.filename for upload in uploads)
        visibility = _text_field(form.get("visibility")) or Visibility.PUBLIC.value

    context = app_context(request)
    async with context.transaction() as session:
        ticket = await access_ticket(session, tenant_id(request), path_id(request, "number"), who)
        message = await do_reply(context, session, ticket, author=Author.of_principal(who),
                                 body=body, visibility=visibility, attachments=uploads)
        view = await message_view(session, ticket, message, who)
    return json_response(view, status_code=201)


async def download_attachment(request: Request) -> Response:
    """Serve an attachment's bytes as a download under its uploader's file name."""
    who = principal(request)
    context = app_context(request)
    async with context.db.read() as session:
        attachment = await session.get(Attachment, path_id(request, "attachment_id"))
        message = (await session.get(Message, attachment.message_id)
                   if attachment is not None else None)
        if attachment is None or message is None or attachment.tenant_id != tenant_id(request):
            raise _not_found(request)
        ticket = await session.get(Ticket, message.ticket_id)
        if ticket is None:
            raise _not_found(request)
        await access_ticket(session, tenant_id(request), ticket.number, who)
        if not _may_see(who, message):
            raise _not_found(request)
    path = attachment_path(context, attachment)
    if not path.is_file():
        logger.error("Attachment %s of tenant %s has no file %s", attachment.id,
                     attachment.tenant_id, path.name)
        raise _not_found(request)
    media_type = (attachment.content_type if attachment.content_type in SAFE_TYPES
                  else DEFAULT_CONTENT_TYPE)
    return FileResponse(path, media_type=media_type, headers={
        "Content-Disposition": content_disposition(attachment.filename),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    })


def content_disposition(filename: str) -> str:
    """Return an attachment disposition with the file name percent-encoded (RFC 6266 and
    RFC 8187), so quotes, semicolons and line breaks in it cannot add header fields."""
    return f"attachment; filename*=UTF-8''{quote(filename, safe='')}"


def _may_see(who: Principal, message: Message) -> bool:
    return is_agent(who) or message.visibility is Visibility.PUBLIC


def _not_found(request: Request) -> NotFound:
    return NotFound(f"Attachment {request.path_params['attachment_id']} not found.",
                    field="attachment_id")


def _check_length(request: Request) -> None:
    """Raise before reading a body larger than the attachments of one message may be."""
    length = request.headers.get("content-length")
    if length is None:
        raise PortalError("Send the upload with a Content-Length header.",
                          code="length_required", status=411)
    if not length.isdigit() or int(length) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(f"The upload is {length} bytes; the maximum is "
                              f"{MAX_TOTAL_BYTES:,} bytes of files per message.",
                              field="file")


async def _read_upload(item: UploadFile) -> AttachmentUpload:
    data = await item.read()
    return AttachmentUpload(filename=item.filename or "attachment",
                            content_type=item.content_type or DEFAULT_CONTENT_TYPE, data=data)


def _text_field(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("The fields body and visibility must be text, not files.",
                           field="body")
    return value
