"""Inbound email: a message to the workspace's support address starts a ticket or
continues one.

The portal's mail gateway calls `handle_mail` for every message to an address that
`do_set_support_address` registered, in the transaction that marks the message
processed; an exception here quarantines the message for an admin to replay. Each
message gets one defined outcome, returned for the mail log:

- our own mail coming back (its Message-ID carries the portal's signature): ignored;
- a message handled before (same Message-ID or inbound row): ignored as a duplicate;
- a bounce: the failed addresses are marked bouncing on the ticket whose mail bounced,
  and no ticket is created;
- a reply (see `mail_threads` for the matching rules) from a person: a public message
  on the ticket, which reopens a solved one; to a closed ticket: a new ticket that
  names the old one in its history;
- a reply from an active agent or admin of the workspace: a message by that agent,
  never a customer's. It is a public reply, mailed to the recipients who were not in
  the agent's To or Cc, when the workspace's mail server verified the sender (see
  `mail_auth`), and otherwise an internal note marked as not verified. Neither reopens
  the ticket. Agent mail to a closed ticket is ignored, because it takes no messages;
- any message from an address marked bouncing clears the mark, since the address
  works again (see `mail_bounces`);
- an out-of-office reply or other automatic mail that threads: a history entry on the
  ticket, which keeps its status and assignee;
- an out-of-office or auto-replied message that does not thread: ignored;
- anything else: a new ticket, confirmed by mail unless the mail was automatic (RFC
  3834) or the sender reached the rate limit of automatic replies. This includes a new
  message from an agent's address: the agent becomes the requester, as for any sender.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import (
    AppContext,
    InvalidInput,
    MailAttachment,
    ParsedMail,
    PortalError,
    UserRecord,
    core_connection,
    do_set_mail_addresses,
    find_users,
    list_mail_addresses,
    utcnow,
)
from ticketcloud import mail_auth, mail_bounces, mail_loops, mail_out, mail_threads
from ticketcloud.attachments import (
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    MAX_TOTAL_BYTES,
    AttachmentUpload,
    message_attachments,
)
from ticketcloud.checks import MAX_BODY
from ticketcloud.conversation import Author, do_reply
from ticketcloud.history import record_change
from ticketcloud.models import (
    MAX_PERSON_NAME,
    MAX_SUBJECT,
    Attachment,
    Channel,
    MailDetail,
    Message,
    Ticket,
    Visibility,
)
from ticketcloud.settings import load_settings
from ticketcloud.status import Status
from ticketcloud.teams import AGENT_ROLES
from ticketcloud.tickets import do_create_ticket_with_rows

logger = logging.getLogger(__name__)

APP_ID = mail_out.APP_ID
NO_SUBJECT = "(no subject)"
NO_TEXT = "(The email had no text.)"


@dataclass(frozen=True)
class _Parts:
    """A mail's body and attachments as a ticket message takes them."""

    body: str
    uploads: list[AttachmentUpload]
    content_ids: list[str | None]
    skipped: list[dict[str, object]]


@dataclass(frozen=True)
class _Received:
    """A mail being handled, with what `handle_mail` read once for all its steps: the
    mail's thread rows and the addresses of the workspace's agents and admins."""

    mail: ParsedMail
    inbound_id: int
    known: mail_threads.KnownThreads
    staff_addresses: list[str]


async def handle_mail(context: AppContext, session: AsyncSession, tenant_id: int,
                      mail: ParsedMail, inbound_id: int) -> str:
    """Add `mail` to a ticket, start one, or skip it; return the outcome for the mail
    log."""
    if mail_loops.is_own_mail(context, mail):
        logger.info("Inbound mail %s of tenant %s is our own mail %s", inbound_id, tenant_id,
                    mail.message_id)
        return f"ignored: our own mail {mail.message_id} came back"
    known = await mail_threads.known_threads(context, session, tenant_id, mail)
    duplicate = await _duplicate_of(session, tenant_id, mail, inbound_id, known)
    if duplicate is not None:
        return f"ignored: duplicate of mail on ticket #{duplicate.number}"
    if mail.bounce is not None:
        return await _handle_bounce(context, session, tenant_id, mail, known)
    if mail.from_ is None:
        return "ignored: no valid From address"
    sender = mail.from_.address.lower()
    await mail_bounces.do_clear_bounces_from(session, tenant_id, sender)
    staff = await find_users(session, tenant_id, roles=AGENT_ROLES)
    agent = next((user for user in staff
                  if user.is_active and user.email.strip().lower() == sender), None)
    ticket = await find_thread_ticket(context, session, tenant_id, mail,
                                      any_sender=agent is not None, known=known)
    received = _Received(mail, inbound_id, known, [user.email for user in staff])
    if mail.is_automatic:
        return await _handle_automatic(context, session, tenant_id, received, ticket=ticket,
                                       sender=sender)
    if ticket is not None and agent is not None:
        return await _append_agent(context, session, ticket, received, agent=agent)
    if ticket is not None and ticket.status is not Status.CLOSED:
        return await _append(context, session, ticket, received, sender=sender)
    return await _create(context, session, tenant_id, received, closed=ticket)


async def find_thread_ticket(context: AppContext, session: AsyncSession, tenant_id: int,
                             mail: ParsedMail, *, any_sender: bool = False,
                             known: mail_threads.KnownThreads | None = None) -> Ticket | None:
    """Return the ticket that `mail` replies to, or None for a new conversation: by its
    In-Reply-To or References, else by a subject tag from a participant, or from anyone
    with `any_sender` (the sender is an agent). `known` are the mail's thread rows when
    the caller has read them already (`mail_threads.known_threads`)."""
    ticket = await mail_threads.find_by_headers(context, session, tenant_id, mail,
                                                known=known)
    if ticket is None and mail.from_ is not None:
        ticket = await mail_threads.find_by_tag(session, tenant_id, mail,
                                                mail.from_.address.lower(),
                                                any_sender=any_sender)
    return ticket


async def _duplicate_of(session: AsyncSession, tenant_id: int, mail: ParsedMail,
                        inbound_id: int, known: mail_threads.KnownThreads) -> Ticket | None:
    """Return the ticket of an earlier delivery of the same message, or None. The
    gateway already stores a message once; this makes the handler safe to run twice."""
    row = await mail_threads.received_before(session, tenant_id, mail.message_id,
                                             known=known)
    if row is not None:
        return await session.get(Ticket, row.ticket_id)
    own_id = mail_threads.normalize_message_id(mail.message_id)
    if own_id is not None and own_id not in known.rows:
        # NOTE: `_record` writes the only MailDetail rows, and it always records the
        # mail's own Message-ID, so no earlier run of this mail left a detail.
        return None
    detail = (await session.exec(select(MailDetail).where(
        MailDetail.tenant_id == tenant_id, MailDetail.inbound_id == inbound_id))).first()
    if detail is None:
        return None
    message = await session.get(Message, detail.message_id)
    return await session.get(Ticket, message.ticket_id) if message is not None else None


async def _handle_bounce(context: AppContext, session: AsyncSession, tenant_id: int,
                         mail: ParsedMail, known: mail_threads.KnownThreads) -> str:
    ticket = await mail_loops.bounced_ticket(context, session, tenant_id, mail)
    if ticket is None:
        return "ignored: bounce of mail that belongs to no ticket"
    addresses = await mail_loops.do_record_bounce(session, ticket, mail)
    await mail_threads.do_record_inbound(session, ticket, mail, context=context,
                                         message_id=None, known=known)
    return f"bounce recorded on ticket #{ticket.number}: {', '.join(addresses)}"


async def _handle_automatic(context: AppContext, session: AsyncSession, tenant_id: int,
                            received: _Received, *, ticket: Ticket | None,
                            sender: str) -> str:
    mail = received.mail
    reasons = ", ".join(mail.auto_reasons) or "out-of-office reply"
    if ticket is not None:
        await mail_loops.do_record_automatic(session, ticket, mail, sender)
        await mail_threads.do_record_inbound(session, ticket, mail, context=context,
                                             message_id=None, known=received.known)
        return f"automatic mail ({reasons}) noted on ticket #{ticket.number}"
    if mail.is_out_of_office or any("auto-replied" in item or "auto_reply" in item
                                    for item in mail.auto_reasons):
        return f"ignored: automatic mail ({reasons})"
    return await _create(context, session, tenant_id, received, closed=None)


async def _append(context: AppContext, session: AsyncSession, ticket: Ticket,
                  received: _Received, *, sender: str) -> str:
    """Add the mail as the sender's public reply; new senders become participants."""
    mail, inbound_id = received.mail, received.inbound_id
    assert mail.from_ is not None
    parts = _parts(mail, inbound_id)
    exclude = [*await list_mail_addresses(session, ticket.tenant_id, APP_ID),
               *received.staff_addresses]
    await mail_threads.do_add_participants(session, ticket, [(sender, mail.from_.name)],
                                           exclude=exclude)
    message = await do_reply(context, session, ticket,
                             author=Author.of_email(sender, mail.from_.name[:MAX_PERSON_NAME]),
                             body=parts.body, attachments=parts.uploads)
    await _add_cc(session, ticket, mail, exclude)
    await _record(context, session, ticket, message, received, parts)
    logger.info("Inbound mail %s of tenant %s added message %s to ticket %s", inbound_id,
                ticket.tenant_id, message.id, ticket.id)
    return f"added to ticket #{ticket.number}"


async def _append_agent(context: AppContext, session: AsyncSession, ticket: Ticket,
                        received: _Received, *, agent: UserRecord) -> str:
    """Add an agent's mail to the ticket as that agent's public reply when the sender
    is verified, else as an internal note marked as not verified."""
    mail, inbound_id = received.mail, received.inbound_id
    if ticket.status is Status.CLOSED:
        logger.warning("Inbound mail %s of tenant %s from agent %s ignored: ticket %s is "
                       "closed", inbound_id, ticket.tenant_id, agent.id, ticket.id)
        return (f"ignored: mail from agent {agent.email} to closed ticket "
                f"#{ticket.number}, which takes no messages")
    settings = await load_settings(session, ticket.tenant_id)
    check = mail_auth.check_sender(mail, trusted_authserv_id=settings.mail_trusted_authserv_id,
                                   address=agent.email)
    parts = _parts(mail, inbound_id)
    directly = {item.address.lower() for item in (*mail.to, *mail.cc)}
    if check.verified:
        message = await do_reply(context, session, ticket, author=Author.of_user(agent),
                                 body=parts.body, attachments=parts.uploads,
                                 mailed_directly=directly)
        exclude = [*await list_mail_addresses(session, ticket.tenant_id, APP_ID),
                   *received.staff_addresses]
        await mail_threads.do_add_participants(
            session, ticket, [(item.address, item.name) for item in (*mail.to, *mail.cc)],
            exclude=exclude)
        outcome = f"public reply by agent {agent.email} on ticket #{ticket.number}"
    else:
        body = mail_auth.unverified_note(agent.email, check.reason, parts.body)
        message = await do_reply(context, session, ticket, author=Author.of_user(agent),
                                 body=body, visibility=Visibility.INTERNAL.value,
                                 attachments=parts.uploads)
        outcome = (f"internal note by agent {agent.email} on ticket #{ticket.number}: "
                   "sender not verified")
    await _record(context, session, ticket, message, received, parts)
    logger.info("Inbound mail %s of tenant %s from agent %s added message %s to ticket %s "
                "(verified: %s, %s)", inbound_id, ticket.tenant_id, agent.id, message.id,
                ticket.id, check.verified, check.reason)
    return outcome


async def _create(context: AppContext, session: AsyncSession, tenant_id: int,
                  received: _Received, *, closed: Ticket | None) -> str:
    """Start a ticket from the mail; `closed` is the closed ticket it replied to.
    Staff addresses never become participants: agents read the ticket in the help
    desk."""
    mail, inbound_id = received.mail, received.inbound_id
    assert mail.from_ is not None
    parts = _parts(mail, inbound_id)
    created = await do_create_ticket_with_rows(
        context, session, tenant_id=tenant_id, subject=(mail.subject or NO_SUBJECT)[:MAX_SUBJECT],
        body=parts.body, requester_email=mail.from_.address,
        requester_name=mail.from_.name[:MAX_PERSON_NAME], channel=Channel.EMAIL.value,
        attachments=parts.uploads)
    ticket = created.ticket
    if closed is not None:
        await record_change(session, ticket, field="follow_up", old=None,
                            new=f"#{closed.number}",
                            reason=f"Mail answered closed ticket #{closed.number}")
    if mail.cc:
        await _add_cc(session, ticket, mail,
                      [*await list_mail_addresses(session, tenant_id, APP_ID),
                       *received.staff_addresses])
    await _record(context, session, ticket, created.message, received, parts,
                  attachments=created.attachments)
    confirmed = await _confirm(context, session, ticket, mail)
    logger.info("Inbound mail %s of tenant %s became ticket #%s with %s attachments (%s "
                "skipped), confirmed: %s", inbound_id, tenant_id, ticket.number,
                len(parts.uploads), len(parts.skipped), confirmed)
    return f"created ticket #{ticket.number}" + ("" if confirmed else " without confirmation")


async def _confirm(context: AppContext, session: AsyncSession, ticket: Ticket,
                   mail: ParsedMail) -> bool:
    """Send the confirmation unless the mail is automatic or the requester reached the
    rate limit of automatic replies; return whether it was sent. The confirmation counts
    against the limit in the mail's transaction, so a rollback takes it back."""
    if mail.is_automatic:
        return False
    address = ticket.requester_email
    if not await mail_loops.do_count_auto_reply(context, session, ticket.tenant_id, address):
        logger.warning("No confirmation for ticket %s of tenant %s: %s reached the limit of "
                       "%s automatic replies per hour", ticket.id, ticket.tenant_id, address,
                       mail_loops.MAX_AUTO_REPLIES)
        return False
    await mail_out.send_confirmation(context, session, ticket, checked_mail=True)
    return True


async def _add_cc(session: AsyncSession, ticket: Ticket, mail: ParsedMail,
                  exclude: list[str]) -> None:
    """Make the people in the mail's Cc participants, except `exclude` (the workspace's
    own addresses and its agents)."""
    if not mail.cc:
        return
    await mail_threads.do_add_participants(
        session, ticket, [(item.address, item.name) for item in mail.cc], exclude=exclude)


async def _record(context: AppContext, session: AsyncSession, ticket: Ticket,
                  message: Message, received: _Received, parts: _Parts, *,
                  attachments: Sequence[Attachment] | None = None) -> None:
    """Store the mail's details for the message and its Message-IDs for threading.
    `attachments` are the message's attachment rows when the caller has them. Without
    them, the rows are read only when an inline image needs their ids."""
    assert message.id is not None
    mail = received.mail
    inline: dict[str, int | None] = {}
    if any(parts.content_ids):
        stored = (attachments if attachments is not None
                  else await message_attachments(session, ticket.tenant_id, [message.id]))
        inline = {content_id: row.id for content_id, row in zip(parts.content_ids, stored,
                                                                 strict=False) if content_id}
    # A Core INSERT: nothing reads the detail back as an object in this transaction.
    await (await core_connection(session)).execute(_INSERT_DETAIL, {
        "tenant_id": ticket.tenant_id, "message_id": message.id,
        "inbound_id": received.inbound_id, "quoted_text": mail.text_quoted,
        "signature": mail.signature, "html": mail.html, "inline_images": inline,
        "skipped": parts.skipped, "created_at": utcnow()})
    await mail_threads.do_record_inbound(session, ticket, mail, context=context,
                                         message_id=message.id, known=received.known)


_INSERT_DETAIL = MailDetail.__table__.insert()  # type: ignore[attr-defined]


def _parts(mail: ParsedMail, inbound_id: int) -> _Parts:
    uploads, content_ids, skipped = _uploads(mail.attachments)
    return _Parts(_body(mail, skipped, inbound_id), uploads, content_ids, skipped)


def _uploads(attachments: tuple[MailAttachment, ...]) -> tuple[
        list[AttachmentUpload], list[str | None], list[dict[str, object]]]:
    """Return the attachments that fit TicketCloud's limits with their Content-IDs, and
    a note for each one that did not; those stay in the stored original message."""
    uploads: list[AttachmentUpload] = []
    content_ids: list[str | None] = []
    skipped: list[dict[str, object]] = []
    total = 0
    for item in attachments:
        reason = None
        if len(uploads) >= MAX_ATTACHMENTS:
            reason = f"more than {MAX_ATTACHMENTS} files"
        elif item.size > MAX_ATTACHMENT_BYTES:
            reason = f"larger than {MAX_ATTACHMENT_BYTES:,} bytes"
        elif total + item.size > MAX_TOTAL_BYTES:
            reason = f"files together larger than {MAX_TOTAL_BYTES:,} bytes"
        if reason is not None:
            skipped.append({"filename": item.filename, "size": item.size, "reason": reason})
            continue
        uploads.append(AttachmentUpload(item.filename, item.content_type, item.data))
        content_ids.append(item.content_id)
        total += item.size
    return uploads, content_ids, skipped


def _body(mail: ParsedMail, skipped: list[dict[str, object]], inbound_id: int) -> str:
    """Return the message body: the mail's new text without quoted history and
    signature (both kept in MailDetail), or its whole text when nothing else is left."""
    text = mail.text_visible.strip() or mail.text.strip() or NO_TEXT
    notes = []
    if skipped:
        notes.append(f"[{len(skipped)} attachment(s) exceeded the size or count limits and "
                     f"are kept only in the original email, inbound mail {inbound_id}.]")
    suffix = "\n\n" + "\n".join(notes) if notes else ""
    if len(text) + len(suffix) > MAX_BODY:
        cut = "\n\n[The email was shortened to fit a ticket message.]"
        text = text[:MAX_BODY - len(suffix) - len(cut)] + cut
    return text + suffix


async def load_support_address(session: AsyncSession, tenant_id: int) -> str | None:
    """Return the workspace's support address, or None when mail is not received."""
    addresses = await list_mail_addresses(session, tenant_id, APP_ID)
    return addresses[0] if addresses else None


async def do_set_support_address(session: AsyncSession, tenant_id: int,
                                 address: str | None) -> str | None:
    """Make `address` the workspace's support address (None stops receiving mail) and
    return it normalized. Raises InvalidInput for a malformed address and Conflict for
    one that another workspace or app receives."""
    if address is not None and not isinstance(address, str):
        raise InvalidInput(f"Invalid support_address {address!r}: use an address such as "
                           "support@example.com, or null.", field="support_address")
    try:
        stored = await do_set_mail_addresses(session, tenant_id, APP_ID,
                                             [address] if address else [])
    except PortalError as error:
        error.field = "support_address"
        raise
    return stored[0] if stored else None
