"""Reading multipart forms with files, with a cap on the whole request body."""

from __future__ import annotations

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message, Receive

from ticketcloud.attachments import MAX_ATTACHMENTS, MAX_TOTAL_BYTES, AttachmentUpload

# The attachments together plus room for the text fields (a message of 50,000 characters
# is at most 200 KB in UTF-8).
MAX_FORM_BYTES = MAX_TOTAL_BYTES + 1024 * 1024
# More files than attachments allows still parse, so the form can report how many were
# sent. Beyond this the request is rejected as unreadable.
MAX_PARSED_FILES = MAX_ATTACHMENTS * 5
MAX_FIELDS = 50


class FormTooLarge(Exception):
    """The request body is larger than MAX_FORM_BYTES."""


class FormUnreadable(Exception):
    """The body is not a form that can be parsed."""


async def read_form(request: Request) -> FormData:
    """Parse a urlencoded or multipart form, reading at most MAX_FORM_BYTES of it.

    Raises FormTooLarge when the declared or the actual body is larger, before the rest
    is read, and FormUnreadable for a malformed body. The caller must `close()` the form.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise FormTooLarge
    # The declared length can be missing (chunked) or false, so count what arrives too.
    limited = Request(request.scope, _limited_receive(request.receive, MAX_FORM_BYTES))
    try:
        return await limited.form(max_files=MAX_PARSED_FILES, max_fields=MAX_FIELDS)
    except HTTPException as error:
        raise FormUnreadable(str(error.detail)) from error


def form_text(form: FormData, name: str) -> str:
    """Return a text field of the form, or "" when it is missing or a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def form_uploads(form: FormData, name: str) -> list[AttachmentUpload]:
    """Return the files of a file field. A browser sends one empty part without a file
    name when no file was chosen, and that part is skipped."""
    uploads = []
    for item in form.getlist(name):
        if not isinstance(item, UploadFile):
            continue
        data = await item.read()
        if not item.filename and not data:
            continue
        uploads.append(AttachmentUpload(filename=item.filename or "",
                                        content_type=item.content_type or "",
                                        data=data))
    return uploads


def _limited_receive(receive: Receive, limit: int) -> Receive:
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise FormTooLarge
        return message

    return limited
