"""TicketCloud's outgoing mail: the confirmation of a new ticket, agents' public replies
and the rating request of a solved ticket, all through the portal's outbox.

Each function stages its mail in the caller's transaction, so a rolled-back ticket or
reply sends nothing, and records the mail's Message-ID in `ticketcloud_mail_thread` so
that replies to it thread onto the ticket. Every mail of a ticket has the ref
`ticket:<number>`, which `failed_mail` uses to show permanent delivery failures.
Recipients marked bouncing on the ticket are left out and logged (see `mail_bounces`);
a mail whose every recipient is left out is not queued. Internal notes never leave the
help desk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import replace
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import (
    AppContext,
    InvalidInput,
    MailAddress,
    OutgoingAttachment,
    OutgoingMail,
    core_connection,
    is_mailable,
    list_mail_addresses,
    utcnow,
    workspace_name,
)
from ticketcloud.attachments import attachment_path, message_attachments
from ticketcloud.mail_bounces import active_bounces, do_record_skips, do_record_unmailable
from ticketcloud.mail_templates import RenderedMail, render_mail
from ticketcloud.mail_threads import INSERT_THREAD, participants, thread_values
from ticketcloud.models import (
    Channel,
    MailDirection,
    MailTemplateKind,
    MailThread,
    Message,
    Ticket,
    Visibility,
)
from ticketcloud.public_pages import public_url
from ticketcloud.ratings import do_issue_rating_token

logger = logging.getLogger(__name__)

# The app id that routes mail to TicketCloud; `mail_in` uses the same.
APP_ID = "ticketcloud"

# The newest Message-IDs of a ticket that a mail lists in References; RFC 5322 sets no
# limit, but long References headers get truncated by some mail programs.
MAX_REFERENCES = 10
# The maximum size of a reply's attachments in one mail. The portal's outbox accepts
# 15 MiB, and base64 makes 10 MiB about 13.7 MB on the wire.
MAX_MAIL_ATTACHMENT_BYTES = 10 * 1024 * 1024



def ticket_ref(ticket: Ticket) -> str:
    return f"ticket:{ticket.number}"


def tagged_subject(ticket: Ticket) -> str:
    """Return the ticket's subject with its tag, such as `[#42] Printer on fire`, which
    threads a reply onto the ticket even when a mail program drops the headers."""
    return f"[#{ticket.number}] {ticket.subject}"


async def send_confirmation(context: AppContext, session: AsyncSession, ticket: Ticket, *,
                            checked_mail: bool = False) -> None:
    """Tell the requester that their ticket was received. Tickets synced from another
    installation were confirmed there and get no mail. An email ticket is confirmed only
    when `mail_in` calls this with `checked_mail`, after it made sure that the mail was
    not automatic and the address is under the rate limit (RFC 3834)."""
    if ticket.channel is Channel.SYNC or (ticket.channel is Channel.EMAIL and not checked_mail):
        return
    rendered = await _render(session, ticket, MailTemplateKind.CONFIRMATION)
    # A ticket being created has no bounces yet, and one from the web form or the API
    # has no mail before its confirmation, so both lookups are skipped.
    await _send(context, session, ticket, subject=rendered.subject, text=rendered.text,
                html=rendered.html, auto_submitted="auto-replied", message=None,
                check_bounces=False, earlier=None if ticket.channel is Channel.EMAIL else [])


async def send_public_reply(context: AppContext, session: AsyncSession, ticket: Ticket,
                            message: Message, *, mailed_directly: Collection[str] = ()) -> None:
    """Mail an agent's public reply to the requester, with the ticket's participants in
    Cc and the reply's attachments; any other message sends nothing. Addresses in
    `mailed_directly` (lowercased) got the agent's own mail already and are left out."""
    if not message.from_agent or message.visibility is not Visibility.PUBLIC:
        return
    attachments, left_out = await _mail_attachments(context, session, message)
    if left_out:
        text_note = (f"\n[{len(left_out)} attached file(s) too large for email: "
                     f"{', '.join(left_out)}.]\n")
    else:
        text_note = ""
    rendered = await _render(session, ticket, MailTemplateKind.REPLY,
                             reply_text=(message.body + "\n" + text_note).rstrip("\n"),
                             agent_name=message.author_name)
    await _send(context, session, ticket, subject=rendered.subject, text=rendered.text,
                html=rendered.html, auto_submitted="no", message=message,
                from_name=message.author_name, attachments=attachments,
                mailed_directly=mailed_directly)


async def send_rating_request(context: AppContext, session: AsyncSession, ticket: Ticket, *,
                              workspace: str) -> None:
    """Ask the requester of a just-solved ticket to rate it, with a new signed link;
    `workspace` is the tenant's slug, for the link's path."""
    token = await do_issue_rating_token(context, session, ticket)
    link = context.absolute_url(public_url(workspace, f"/rate/{token}"))
    rendered = await _render(session, ticket, MailTemplateKind.RATING_REQUEST,
                             rating_link=link)
    await _send(context, session, ticket, subject=rendered.subject, text=rendered.text,
                html=rendered.html, auto_submitted="auto-generated", message=None)


async def _render(session: AsyncSession, ticket: Ticket, kind: MailTemplateKind,
                  **values: str) -> RenderedMail:
    """Render the workspace's template of `kind` for the ticket. The subject keeps the
    ticket's tag even when the template left it out, because replies thread by it."""
    rendered = await render_mail(session, ticket.tenant_id, kind, {
        "ticket_number": str(ticket.number), "subject": ticket.subject,
        "requester_name": ticket.requester_name or ticket.requester_email,
        "workspace_name": await workspace_name(session, ticket.tenant_id), **values})
    tag = f"[#{ticket.number}]"
    if tag not in rendered.subject:
        rendered = replace(rendered, subject=f"{tag} {rendered.subject}".strip())
    return rendered


async def failed_mail(context: AppContext, session: AsyncSession,
                      ticket: Ticket) -> list[dict[str, Any]]:
    """Return the ticket's mail that failed for good, oldest first: for each, the
    conversation message it carried (or None), its recipients and the server's reply."""
    failed = [item for item in await context.mail_deliveries(
        session, tenant_id=ticket.tenant_id, refs=[ticket_ref(ticket)])
        if item.status == "failed"]
    if not failed:
        return []
    threads = (await session.exec(select(MailThread).where(
        MailThread.tenant_id == ticket.tenant_id, MailThread.ticket_id == ticket.id,
        col(MailThread.message_id).in_([item.message_id for item in failed])))).all()
    carried = {row.message_id: row.ticketcloud_message_id for row in threads}
    return [{"message_id": carried.get(item.message_id), "to": list(item.recipients),
             "error": item.last_error or "Delivery failed."} for item in failed]


async def thread_message_ids(session: AsyncSession, ticket: Ticket) -> list[str]:
    """Return the Message-IDs sent and received on the ticket, oldest first. Mail that
    came in without becoming a message (bounces, out-of-office and other automatic
    replies) is left out, so a reply never refers to an automatic message."""
    return list((await session.exec(_THREAD_MESSAGE_IDS, params={
        "tenant_id": ticket.tenant_id, "ticket_id": ticket.id})).all())


# Built once, because every mail about a ticket runs it.
_THREAD_MESSAGE_IDS = (
    select(MailThread.message_id)
    .where(MailThread.tenant_id == bindparam("tenant_id"),
           MailThread.ticket_id == bindparam("ticket_id"),
           (col(MailThread.direction) == MailDirection.OUT)
           | ((col(MailThread.direction) == MailDirection.IN)
              & col(MailThread.ticketcloud_message_id).is_not(None)))
    .order_by(col(MailThread.id)))


async def _send(context: AppContext, session: AsyncSession, ticket: Ticket, *, subject: str,
                text: str, auto_submitted: Any, message: Message | None,
                html: str | None = None, from_name: str | None = None,
                attachments: list[OutgoingAttachment] | None = None,
                mailed_directly: Collection[str] = (), check_bounces: bool = True,
                earlier: list[str] | None = None) -> None:
    """Queue mail about the ticket and record its Message-ID in the ticket's thread.
    `earlier` is the thread's Message-IDs when the caller knows them."""
    assert ticket.id is not None
    # Automatic mail (confirmations, rating requests) goes to the requester alone, and
    # agents' replies go to the participants too.
    cc = [] if message is None else [MailAddress(row.email, row.name)
                                     for row in await participants(session, ticket)]
    to, cc = await _recipients(session, ticket, message,
                               [MailAddress(ticket.requester_email, ticket.requester_name)],
                               cc, mailed_directly=mailed_directly, check_bounces=check_bounces)
    if not to:
        logger.info("No mail queued for ticket %s of tenant %s (message %s): every "
                    "recipient bounced, cannot receive mail or got the mail directly",
                    ticket.id, ticket.tenant_id, message.id if message else None)
        return
    if earlier is None:
        earlier = await thread_message_ids(session, ticket)
    references = earlier[-MAX_REFERENCES:]
    # Replies must reach the support address even when the workspace's From is another
    # address (by default <workspace>@<the portal's domain>, which receives nothing).
    support = await list_mail_addresses(session, ticket.tenant_id, APP_ID)
    mail = OutgoingMail(
        ref=ticket_ref(ticket), to=to, cc=cc, subject=subject, text=text, html=html,
        from_name=from_name, in_reply_to=references[-1] if references else None,
        references=references, reply_to=MailAddress(support[0]) if support else None,
        auto_submitted=auto_submitted, attachments=attachments or [])
    try:
        queued = await context.queue_mail(session, tenant_id=ticket.tenant_id, mail=mail)
    except InvalidInput as error:
        # The ticket's own checks accept a few addresses that mail headers cannot carry,
        # such as a non-ASCII one. The ticket or reply must still be saved, so the mail is
        # skipped; nothing was staged, because queue_mail checks before it writes.
        logger.warning("Mail for ticket %s of tenant %s not queued: %s (field %s)", ticket.id,
                       ticket.tenant_id, error.message, error.field)
        return
    # A Core INSERT, because nothing reads the row back in this transaction.
    await (await core_connection(session)).execute(INSERT_THREAD, thread_values(
        ticket, queued.message_id, MailDirection.OUT, message.id if message else None,
        utcnow()))
    logger.info("Queued mail %s for ticket %s of tenant %s (message %s)", queued.id,
                ticket.id, ticket.tenant_id, message.id if message else None)


async def _recipients(session: AsyncSession, ticket: Ticket, message: Message | None,
                      to: list[MailAddress], cc: list[MailAddress], *,
                      mailed_directly: Collection[str],
                      check_bounces: bool) -> tuple[list[MailAddress], list[MailAddress]]:
    """Return `to` and `cc` without the ticket's bouncing addresses and the addresses the
    outbox cannot send to, which get a `MailSkip` row each, and without
    `mailed_directly`. When the requester is left out, the first remaining participant
    moves to To, because a mail needs a To recipient."""
    bounces = await active_bounces(session, ticket) if check_bounces else {}
    skip = {address.lower() for address in mailed_directly}
    skipped = [bounces[item.email.lower()] for item in [*to, *cc]
               if item.email.lower() in bounces and item.email.lower() not in skip]
    if skipped:
        await do_record_skips(session, ticket, message, skipped)
    kept_to = [item for item in to
               if item.email.lower() not in bounces and item.email.lower() not in skip]
    kept_cc = [item for item in cc
               if item.email.lower() not in bounces and item.email.lower() not in skip]
    unmailable = [item.email for item in [*kept_to, *kept_cc] if not is_mailable(item.email)]
    if unmailable:
        await do_record_unmailable(session, ticket, message, unmailable)
        kept_to = [item for item in kept_to if item.email not in unmailable]
        kept_cc = [item for item in kept_cc if item.email not in unmailable]
    if not kept_to and kept_cc:
        return kept_cc[:1], kept_cc[1:]
    return kept_to, kept_cc


async def _mail_attachments(context: AppContext, session: AsyncSession,
                            message: Message) -> tuple[list[OutgoingAttachment], list[str]]:
    """Return the message's attachments that fit in MAX_MAIL_ATTACHMENT_BYTES together,
    in upload order, and the names of those left out (they stay on the ticket)."""
    assert message.id is not None
    rows = await message_attachments(session, message.tenant_id, [message.id])
    attached: list[OutgoingAttachment] = []
    left_out: list[str] = []
    total = 0
    for row in rows:
        if total + row.size > MAX_MAIL_ATTACHMENT_BYTES:
            left_out.append(row.filename)
            continue
        try:
            data = await asyncio.to_thread(attachment_path(context, row).read_bytes)
        except OSError as error:
            logger.error("Attachment %s of message %s not mailed: %s", row.id, message.id,
                         error)
            left_out.append(row.filename)
            continue
        attached.append(OutgoingAttachment(row.filename, row.content_type, data))
        total += len(data)
    return attached, left_out
