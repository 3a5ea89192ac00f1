"""Threading inbound mail onto tickets, and the people a ticket's mail goes to.

A message joins a ticket when one of its In-Reply-To or References Message-IDs is
recorded in `ticketcloud_mail_thread` for the same workspace, or when its subject
carries a ticket tag such as "[#12]" and its sender is already the ticket's requester or
a participant. Everything else starts a new ticket. Lookups always filter on the
workspace, and a Message-ID that the portal signed for another workspace is skipped
outright, so mail never threads across workspaces.

Messages that arrive out of order still thread: a reply names its whole chain in
References, so it matches on any ancestor already recorded. Its References that are not
yet known are recorded as `referenced`, so a parent that arrives after its reply joins
the reply's ticket. Conversation messages are kept in order of arrival.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, ParsedMail, core_connection, utcnow
from ticketcloud.models import (
    MAX_EMAIL,
    MAX_PERSON_NAME,
    MailDirection,
    MailParticipant,
    MailThread,
    Ticket,
)

logger = logging.getLogger(__name__)

# Agents' replies go to the requester and at most this many participants, well below the
# outbox's limit of 50 recipients per message.
MAX_PARTICIPANTS = 20
MAX_MESSAGE_ID = 998
_TAG = re.compile(r"\[#([1-9][0-9]{0,9})\]")


@dataclass(frozen=True)
class KnownThreads:
    """The thread rows of one mail's Message-ID, In-Reply-To and References in one
    workspace, read once so that the duplicate check, threading and recording need no
    further reads of them. An id without a row in `rows` has none."""

    tenant_id: int
    rows: dict[str, MailThread]

    def ordered(self, message_ids: Sequence[str]) -> list[MailThread]:
        return [self.rows[item] for item in message_ids if item in self.rows]


def normalize_message_id(value: str | None) -> str | None:
    """Return a Message-ID as `<left@right>` without whitespace, or None when `value` is
    empty or too long to be one."""
    if value is None:
        return None
    text = "".join(value.split()).strip("<>")
    if not text or "@" not in text or len(text) + 2 > MAX_MESSAGE_ID:
        return None
    return f"<{text}>"


def thread_candidates(mail: ParsedMail) -> list[str]:
    """Return the Message-IDs `mail` replies to, best first: In-Reply-To, then References
    from the newest to the oldest."""
    found: list[str] = []
    for value in (mail.in_reply_to, *reversed(mail.references)):
        normalized = normalize_message_id(value)
        if normalized is not None and normalized not in found:
            found.append(normalized)
    return found


def own_candidates(context: AppContext, tenant_id: int, ids: Iterable[str]) -> list[str]:
    """Return the ids that may belong to the workspace: those the portal did not sign,
    and those it signed for this workspace. Another workspace's ids are dropped."""
    kept = []
    for message_id in ids:
        signed_for = context.verify_message_id(message_id)
        if signed_for is None or signed_for == tenant_id:
            kept.append(message_id)
        else:
            logger.info("Ignored Message-ID of tenant %s in mail to tenant %s", signed_for,
                        tenant_id)
    return kept


# Built once, because every inbound mail runs it.
_THREAD_ROWS = select(MailThread).where(
    MailThread.tenant_id == bindparam("tenant_id"),
    col(MailThread.message_id).in_(bindparam("message_ids", expanding=True)))


async def thread_rows(session: AsyncSession, tenant_id: int,
                      message_ids: Sequence[str]) -> list[MailThread]:
    """Return the workspace's thread rows for `message_ids`, in the order of the ids."""
    if not message_ids:
        return []
    rows = (await session.exec(_THREAD_ROWS, params={
        "tenant_id": tenant_id, "message_ids": list(message_ids)})).all()
    by_id = {row.message_id: row for row in rows}
    return [by_id[message_id] for message_id in message_ids if message_id in by_id]


async def known_threads(context: AppContext, session: AsyncSession, tenant_id: int,
                        mail: ParsedMail) -> KnownThreads:
    """Read the workspace's thread rows of `mail`'s own Message-ID and of the ids it
    replies to, for `received_before`, `find_by_headers` and `do_record_inbound`."""
    rows = await thread_rows(session, tenant_id, _mail_ids(context, tenant_id, mail))
    return KnownThreads(tenant_id, {row.message_id: row for row in rows})


def _mail_ids(context: AppContext, tenant_id: int, mail: ParsedMail) -> list[str]:
    """Return the ids `mail` replies to that may belong to the workspace, then its own
    Message-ID."""
    candidates = own_candidates(context, tenant_id, thread_candidates(mail))
    own_id = normalize_message_id(mail.message_id)
    if own_id is not None and own_id not in candidates:
        candidates.append(own_id)
    return candidates


async def _rows(session: AsyncSession, tenant_id: int, message_ids: Sequence[str],
                known: KnownThreads | None) -> list[MailThread]:
    if known is not None and known.tenant_id == tenant_id:
        return known.ordered(message_ids)
    return await thread_rows(session, tenant_id, message_ids)


async def find_by_headers(context: AppContext, session: AsyncSession, tenant_id: int,
                          mail: ParsedMail, *,
                          known: KnownThreads | None = None) -> Ticket | None:
    """Return the ticket that `mail`'s In-Reply-To or References point to, or None.

    The mail's own Message-ID counts too, when a reply that arrived earlier named it in
    its References. `known` are the mail's rows from `known_threads`, if read already."""
    candidates = _mail_ids(context, tenant_id, mail)
    for row in await _rows(session, tenant_id, candidates, known):
        ticket = await session.get(Ticket, row.ticket_id)
        if ticket is not None and ticket.tenant_id == tenant_id:
            return ticket
    return None


async def find_by_tag(session: AsyncSession, tenant_id: int, mail: ParsedMail,
                      sender: str, *, any_sender: bool = False) -> Ticket | None:
    """Return the ticket whose tag "[#n]" is in the subject when `sender` is its
    requester or a participant (or anyone, with `any_sender`), else None: a stranger
    who quotes someone else's tag starts a ticket of their own."""
    for match in _TAG.finditer(mail.subject):
        ticket = (await session.exec(select(Ticket).where(
            Ticket.tenant_id == tenant_id, Ticket.number == int(match[1])))).first()
        if ticket is not None and (any_sender or await is_participant(session, ticket,
                                                                      sender)):
            return ticket
    return None


async def is_participant(session: AsyncSession, ticket: Ticket, email: str) -> bool:
    """Return whether `email` is the ticket's requester or one of its participants."""
    address = email.strip().lower()
    if address == ticket.requester_email.lower():
        return True
    return await _participant(session, ticket, address) is not None


async def participants(session: AsyncSession, ticket: Ticket) -> list[MailParticipant]:
    """Return the ticket's participants besides the requester, oldest first."""
    return list((await session.exec(select(MailParticipant).where(
        MailParticipant.tenant_id == ticket.tenant_id,
        MailParticipant.ticket_id == ticket.id).order_by(col(MailParticipant.id)))).all())


async def do_add_participants(session: AsyncSession, ticket: Ticket,
                              people: Iterable[tuple[str, str]], *,
                              exclude: Iterable[str] = ()) -> list[MailParticipant]:
    """Record `(email, name)` pairs as participants of the ticket, skipping the requester,
    addresses already recorded, `exclude` (such as the workspace's own addresses) and
    any beyond MAX_PARTICIPANTS; return the new rows."""
    assert ticket.id is not None
    people = list(people)
    if not people:
        return []
    skip = {ticket.requester_email.lower(), *(item.lower() for item in exclude)}
    existing = {row.email for row in await participants(session, ticket)}
    added = []
    for email, name in people:
        address = email.strip().lower()
        if not address or len(address) > MAX_EMAIL or address in skip or address in existing:
            continue
        if len(existing) >= MAX_PARTICIPANTS:
            logger.warning("Ticket %s of tenant %s has %s participants; %s not added",
                           ticket.id, ticket.tenant_id, MAX_PARTICIPANTS, address)
            break
        row = MailParticipant(tenant_id=ticket.tenant_id, ticket_id=ticket.id, email=address,
                              name=name.strip()[:MAX_PERSON_NAME])
        session.add(row)
        existing.add(address)
        added.append(row)
    if added:
        await session.flush()
        logger.info("Added %s mail participants to ticket %s of tenant %s", len(added),
                    ticket.id, ticket.tenant_id)
    return added


async def do_record_inbound(session: AsyncSession, ticket: Ticket, mail: ParsedMail, *,
                            context: AppContext, message_id: int | None,
                            known: KnownThreads | None = None) -> None:
    """Record the mail's own Message-ID on the ticket (taking over a `referenced` row
    for it), and its References that are not recorded yet as `referenced`. `known` are
    the mail's rows from `known_threads`, if read already in this transaction."""
    assert ticket.id is not None
    own_id = normalize_message_id(mail.message_id)
    references = own_candidates(context, ticket.tenant_id, thread_candidates(mail))
    known_rows = {row.message_id: row for row in await _rows(
        session, ticket.tenant_id, [*references, *([own_id] if own_id else [])], known)}
    now = utcnow()
    new_rows = []
    if own_id is not None:
        row = known_rows.get(own_id)
        if row is None:
            new_rows.append(thread_values(ticket, own_id, MailDirection.IN, message_id, now))
        elif row.direction is MailDirection.REFERENCED:
            row.direction = MailDirection.IN
            row.ticket_id = ticket.id
            row.ticketcloud_message_id = message_id
            session.add(row)
    for reference in references:
        if reference not in known_rows and reference != own_id:
            new_rows.append(thread_values(ticket, reference, MailDirection.REFERENCED,
                                           None, now))
    if new_rows:
        # Core, because nothing reads the new rows' objects back in this transaction.
        await (await core_connection(session)).execute(INSERT_THREAD, new_rows)
    await session.flush()


# A Core INSERT of thread rows, for rows that nothing reads back as objects.
INSERT_THREAD = MailThread.__table__.insert()  # type: ignore[attr-defined]


def thread_values(ticket: Ticket, message_id: str, direction: MailDirection,
                  ticketcloud_message_id: int | None, now: datetime) -> dict[str, Any]:
    """Return the values of a thread row of the ticket for `INSERT_THREAD`."""
    return {"tenant_id": ticket.tenant_id, "ticket_id": ticket.id, "message_id": message_id,
            "direction": direction, "ticketcloud_message_id": ticketcloud_message_id,
            "created_at": now}


async def received_before(session: AsyncSession, tenant_id: int, message_id: str | None, *,
                          known: KnownThreads | None = None) -> MailThread | None:
    """Return the thread row of a message received earlier with this Message-ID, or
    None; a row that only a reply's References created does not count. `known` are
    the mail's rows from `known_threads`, if read already."""
    normalized = normalize_message_id(message_id)
    if normalized is None:
        return None
    rows = await _rows(session, tenant_id, [normalized], known)
    if rows and rows[0].direction is MailDirection.IN:
        return rows[0]
    return None


async def _participant(session: AsyncSession, ticket: Ticket,
                       email: str) -> MailParticipant | None:
    return (await session.exec(select(MailParticipant).where(
        MailParticipant.tenant_id == ticket.tenant_id, MailParticipant.ticket_id == ticket.id,
        MailParticipant.email == email))).first()
