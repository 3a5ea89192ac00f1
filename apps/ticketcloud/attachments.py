"""Files attached to messages, kept in the app's data folder of the tenant.

A file is stored under a random name that the server chooses. The uploader's file name
is only shown or sent as a download name, and never used as a path.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, InvalidInput
from ticketcloud.models import Attachment, Message

logger = logging.getLogger(__name__)

MAX_ATTACHMENTS = 10
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 25 * 1024 * 1024
MAX_FILENAME = 255
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# type/subtype as in RFC 6838, without parameters.
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


@dataclass(frozen=True)
class AttachmentUpload:
    """A file as received, before it is stored."""

    filename: str
    content_type: str
    data: bytes


def check_attachments(uploads: Sequence[AttachmentUpload]) -> list[AttachmentUpload]:
    """Return the uploads with safe file names and content types, or raise InvalidInput
    when there are too many or they are too large."""
    if len(uploads) > MAX_ATTACHMENTS:
        raise InvalidInput(f"{len(uploads)} files attached; the maximum is {MAX_ATTACHMENTS}.",
                           field="attachments")
    total = 0
    checked = []
    for upload in uploads:
        size = len(upload.data)
        if size > MAX_ATTACHMENT_BYTES:
            raise InvalidInput(f"The file {upload.filename!r} is {size:,} bytes; the maximum is "
                               f"{MAX_ATTACHMENT_BYTES:,} per file.", field="attachments")
        total += size
        checked.append(AttachmentUpload(_safe_filename(upload.filename),
                                        _safe_content_type(upload.content_type), upload.data))
    if total > MAX_TOTAL_BYTES:
        raise InvalidInput(f"The files add up to {total:,} bytes; the maximum is "
                           f"{MAX_TOTAL_BYTES:,} per message.", field="attachments")
    return checked


async def do_store_attachments(
    context: AppContext, session: AsyncSession, message: Message,
    uploads: Sequence[AttachmentUpload],
) -> list[Attachment]:
    """Write checked uploads to disk and add their rows to `session`.

    When the transaction of `session` rolls back, the written files are deleted again, so
    a failed request leaves no file behind.
    """
    assert message.id is not None
    if not uploads:
        return []
    folder = context.app_data_dir(message.tenant_id)
    rows = []
    for upload in uploads:
        stored_name = secrets.token_hex(16)
        path = folder / stored_name
        _delete_on_rollback(session, path)
        await asyncio.to_thread(path.write_bytes, upload.data)
        rows.append(Attachment(
            tenant_id=message.tenant_id, message_id=message.id, stored_name=stored_name,
            filename=upload.filename, content_type=upload.content_type, size=len(upload.data)))
    session.add_all(rows)
    if rows:
        logger.info("Stored %s attachments of message %s in tenant %s", len(rows), message.id,
                    message.tenant_id)
    return rows


def attachment_path(context: AppContext, attachment: Attachment) -> Path:
    return context.app_data_dir(attachment.tenant_id) / attachment.stored_name


async def message_attachments(session: AsyncSession, tenant_id: int,
                              message_ids: Sequence[int]) -> list[Attachment]:
    statement = (select(Attachment)
                 .where(Attachment.tenant_id == tenant_id,
                        col(Attachment.message_id).in_(list(message_ids)))
                 .order_by(col(Attachment.id)))
    return list((await session.exec(statement)).all())


def _delete_on_rollback(session: AsyncSession, path: Path) -> None:
    def delete(_session: Any) -> None:
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            logger.error("Deleting attachment file %s after a rollback failed: %s", path.name,
                         error)

    sa.event.listen(session.sync_session, "after_rollback", delete, once=True)


def _safe_filename(filename: str) -> str:
    name = _UNSAFE_FILENAME.sub("_", filename).strip().lstrip(".")
    if not name:
        return "attachment"
    if len(name) <= MAX_FILENAME:
        return name
    stem, dot, suffix = name.rpartition(".")
    if dot and 0 < len(suffix) <= 16:
        return stem[:MAX_FILENAME - len(suffix) - 1] + "." + suffix
    return name[:MAX_FILENAME]


def _safe_content_type(content_type: str) -> str:
    value = content_type.split(";", 1)[0].strip().lower()
    return value if _CONTENT_TYPE.match(value) else DEFAULT_CONTENT_TYPE
