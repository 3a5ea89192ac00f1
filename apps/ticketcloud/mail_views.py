"""Mail in the ticket views: each mail message's quoted history, signature and skipped
attachments, the ticket's participants, bouncing addresses and the recipients its mail
skipped, and the HTML version of a message as a document for a sandboxed iframe.

Mail HTML is written by strangers. The portal's parser already sanitized it with nh3,
and this module adds a Content-Security-Policy that blocks scripts, remote loads and
forms, for a document the ticket window shows only in an `<iframe sandbox srcdoc>`, never
as markup of the window itself.
"""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import re
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, NotFound
from ticketcloud.attachments import attachment_path
from ticketcloud.mail_bounces import skipped_mail
from ticketcloud.mail_loops import bouncing_addresses
from ticketcloud.mail_threads import participants
from ticketcloud.models import Attachment, MailDetail, Message, Ticket

logger = logging.getLogger(__name__)

# Inline images are embedded as data: URLs, because a sandboxed document has an opaque
# origin and sends no session cookie; larger images stay downloadable attachments.
MAX_INLINE_IMAGE_BYTES = 2 * 1024 * 1024
_INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
_CID = re.compile(r"""(src\s*=\s*)(["'])cid:([^"']+)\2""", re.IGNORECASE)
DOCUMENT_POLICY = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                   "form-action 'none'")


async def add_mail_details(session: AsyncSession, ticket: Ticket, view: dict[str, Any], *,
                           agent: bool) -> None:
    """Add `mail` to each message of `view` that came by mail and, for agents, the
    ticket's `participants`, `bouncing` addresses and the recipients its mail skipped
    because they bounced (`mail_skipped`)."""
    ids = [item["id"] for item in view.get("messages", [])]
    details = await _details(session, ticket.tenant_id, ids)
    for item in view.get("messages", []):
        detail = details.get(item["id"])
        item["mail"] = None if detail is None else _detail_json(detail, agent=agent)
    if agent:
        view["participants"] = [{"email": row.email, "name": row.name}
                                for row in await participants(session, ticket)]
        view["bouncing"] = await bouncing_addresses(session, ticket)
        view["mail_skipped"] = await skipped_mail(session, ticket)


async def html_document(context: AppContext, session: AsyncSession, ticket: Ticket,
                        message_id: int) -> str:
    """Return the HTML version of a mail message of `ticket` as a whole document for a
    sandboxed iframe. Raises NotFound when the message has no HTML version."""
    message = await session.get(Message, message_id)
    details = await _details(session, ticket.tenant_id, [message_id])
    detail = details.get(message_id)
    if (message is None or message.ticket_id != ticket.id or detail is None
            or detail.html is None):
        raise NotFound(f"Message {message_id} of ticket #{ticket.number} has no HTML "
                       "version.", field="message_id")
    images = await _inline_images(context, session, ticket.tenant_id, detail)

    def embed(match: re.Match[str]) -> str:
        url = images.get(html.unescape(match[3]))
        # An image that cannot be embedded shows as broken, never as a remote load.
        return f'{match[1]}{match[2]}{url or "data:,"}{match[2]}'

    body = _CID.sub(embed, detail.html)
    return ('<!DOCTYPE html><html><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{DOCUMENT_POLICY}">'
            '<base target="_blank"></head><body>' + body + "</body></html>")


def _detail_json(detail: MailDetail, *, agent: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {"quoted_text": detail.quoted_text, "signature": detail.signature}
    if agent:
        shown.update(has_html=detail.html is not None, skipped=list(detail.skipped),
                     inbound_id=detail.inbound_id)
    return shown


async def _details(session: AsyncSession, tenant_id: int,
                   message_ids: list[int]) -> dict[int, MailDetail]:
    if not message_ids:
        return {}
    rows = (await session.exec(select(MailDetail).where(
        MailDetail.tenant_id == tenant_id,
        col(MailDetail.message_id).in_(message_ids)))).all()
    return {row.message_id: row for row in rows}


async def _inline_images(context: AppContext, session: AsyncSession, tenant_id: int,
                         detail: MailDetail) -> dict[str, str]:
    """Return Content-ID to data: URL for the message's inline images that may be
    embedded."""
    ids = [value for value in detail.inline_images.values() if isinstance(value, int)]
    if not ids:
        return {}
    rows = {row.id: row for row in (await session.exec(select(Attachment).where(
        Attachment.tenant_id == tenant_id, col(Attachment.id).in_(ids)))).all()}
    urls = {}
    for content_id, attachment_id in detail.inline_images.items():
        row = rows.get(attachment_id)
        if (row is None or row.content_type not in _INLINE_TYPES
                or row.size > MAX_INLINE_IMAGE_BYTES):
            continue
        try:
            data = await asyncio.to_thread(attachment_path(context, row).read_bytes)
        except OSError as error:
            logger.error("Inline image %s of tenant %s unreadable: %s", row.id, tenant_id,
                         error)
            continue
        urls[content_id] = f"data:{row.content_type};base64,{base64.b64encode(data).decode()}"
    return urls
