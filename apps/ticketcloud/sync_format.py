"""TicketCloud's sync document (namespace `urn:miportal:ticketcloud:sync:1`): a full
snapshot of one ticket after a change, with its change version.

A snapshot carries every public reply and internal note. Attachments are inline in
base64 up to `INLINE_ATTACHMENT_BYTES` each and `INLINE_TOTAL_BYTES` per document, and
by reference (name, type and size, no content) beyond. `schema/ticket-sync-1.xsd` is
the format's XML Schema, and docs/sync-format.md its description.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import AppContext, check_valid, find_users
from ticketcloud.models import Attachment, Category, Message, Team, Ticket

logger = logging.getLogger(__name__)

NS = "urn:miportal:ticketcloud:sync:1"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "ticket-sync-1.xsd"
SCHEMA = etree.XMLSchema(etree.parse(str(SCHEMA_PATH), parser=etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False)))
INLINE_ATTACHMENT_BYTES = 256 * 1024
INLINE_TOTAL_BYTES = 1024 * 1024


def _tag(name: str) -> str:
    return f"{{{NS}}}{name}"


@dataclass(frozen=True)
class TicketSnapshot:
    """The fields of a received ticket element that the master's list shows."""

    remote_id: int
    number: int
    version: int
    subject: str
    status: str
    priority: str
    channel: str
    requester_email: str
    requester_name: str
    assignee_name: str | None
    tags: list[str]
    message_count: int
    updated: datetime


async def build_snapshot(context: AppContext, session: AsyncSession, ticket: Ticket, *,
                         version: int) -> etree._Element:
    """Build and validate the ticket's element as it is in `session`."""
    assert ticket.id is not None
    root = etree.Element(_tag("ticket"), nsmap={None: NS})
    root.set("id", str(ticket.id))
    root.set("number", str(ticket.number))
    root.set("version", str(version))
    _text(root, "subject", ticket.subject)
    _text(root, "status", ticket.status.value)
    _text(root, "priority", ticket.priority.value)
    _text(root, "channel", ticket.channel.value)
    if ticket.category_id is not None:
        category = await session.get(Category, ticket.category_id)
        if category is not None:
            _text(root, "category", category.name)
    if ticket.team_id is not None:
        team = await session.get(Team, ticket.team_id)
        if team is not None:
            _text(root, "team", team.name)
    _person(root, "requester", ticket.requester_name or ticket.requester_email,
            ticket.requester_email)
    if ticket.assignee_id is not None:
        users = await find_users(session, ticket.tenant_id, ids=[ticket.assignee_id])
        if users:
            _person(root, "assignee", users[0].name, users[0].email)
    tags = etree.SubElement(root, _tag("tags"))
    for tag in ticket.tags:
        _text(tags, "tag", tag)
    _text(root, "created", ticket.created_at.isoformat())
    _text(root, "updated", ticket.updated_at.isoformat())
    if ticket.solved_at is not None:
        _text(root, "solved", ticket.solved_at.isoformat())
    if ticket.closed_at is not None:
        _text(root, "closed", ticket.closed_at.isoformat())
    await _messages(context, session, ticket, etree.SubElement(root, _tag("messages")))
    check_valid(SCHEMA, root, what=f"snapshot of ticket {ticket.id}")
    return root


async def _messages(context: AppContext, session: AsyncSession, ticket: Ticket,
                    parent: etree._Element) -> None:
    messages = list((await session.exec(
        select(Message).where(Message.tenant_id == ticket.tenant_id,
                              Message.ticket_id == ticket.id)
        .order_by(col(Message.id)))).all())
    attachments: dict[int, list[Attachment]] = {}
    for attachment in (await session.exec(
            select(Attachment).where(Attachment.tenant_id == ticket.tenant_id,
                                     col(Attachment.message_id).in_(
                                         [message.id for message in messages]))
            .order_by(col(Attachment.id)))).all():
        attachments.setdefault(attachment.message_id, []).append(attachment)
    inline_budget = INLINE_TOTAL_BYTES
    for message in messages:
        assert message.id is not None
        node = etree.SubElement(parent, _tag("message"))
        node.set("id", str(message.id))
        node.set("visibility", message.visibility.value)
        node.set("from-agent", "true" if message.from_agent else "false")
        node.set("created", message.created_at.isoformat())
        _person(node, "author", message.author_name or message.author_email or "",
                message.author_email)
        _text(node, "body", message.body)
        for attachment in attachments.get(message.id, []):
            inline_budget -= _attachment(context, node, attachment, inline_budget)


def _attachment(context: AppContext, parent: etree._Element, attachment: Attachment,
                budget: int) -> int:
    """Add the attachment, inline when it fits the caps; return the bytes inlined."""
    node = etree.SubElement(parent, _tag("attachment"))
    node.set("id", str(attachment.id))
    node.set("filename", _clean(attachment.filename))
    node.set("content-type", _clean(attachment.content_type)[:200])
    node.set("size", str(attachment.size))
    inline = attachment.size <= min(INLINE_ATTACHMENT_BYTES, budget)
    content = b""
    if inline:
        path = context.app_data_dir(attachment.tenant_id) / attachment.stored_name
        try:
            content = path.read_bytes()
        except OSError as error:
            logger.warning("Attachment %s of tenant %s is unreadable (%s); sending it by "
                           "reference", attachment.id, attachment.tenant_id, error)
            inline = False
    node.set("inline", "true" if inline else "false")
    if inline:
        node.set("sha256", hashlib.sha256(content).hexdigest())
        node.text = base64.b64encode(content).decode()
        return len(content)
    return 0


def read_snapshot(element: etree._Element) -> TicketSnapshot:
    """Return the list fields of a ticket element that already passed `SCHEMA`."""
    assignee = element.find(_tag("assignee"))
    requester = element.find(_tag("requester"))
    assert requester is not None
    return TicketSnapshot(
        remote_id=int(element.get("id", "0")), number=int(element.get("number", "0")),
        version=int(element.get("version", "0")),
        subject=element.findtext(_tag("subject")) or "",
        status=element.findtext(_tag("status")) or "",
        priority=element.findtext(_tag("priority")) or "",
        channel=element.findtext(_tag("channel")) or "",
        requester_email=requester.get("email", ""),
        requester_name=requester.get("name", ""),
        assignee_name=assignee.get("name") if assignee is not None else None,
        tags=[tag.text or "" for tag in element.iterfind(f"{_tag('tags')}/{_tag('tag')}")],
        message_count=len(element.findall(f"{_tag('messages')}/{_tag('message')}")),
        updated=datetime.fromisoformat(element.findtext(_tag("updated")) or ""),
    )


def snapshot_details(element: etree._Element) -> dict[str, Any]:
    """Return the parts of a stored snapshot that the master's detail view shows."""
    return {
        "category": element.findtext(_tag("category")),
        "team": element.findtext(_tag("team")),
        "created": element.findtext(_tag("created")),
        "solved": element.findtext(_tag("solved")),
        "closed": element.findtext(_tag("closed")),
        "messages": [
            {"id": int(node.get("id", "0")), "visibility": node.get("visibility"),
             "from_agent": node.get("from-agent") == "true", "created": node.get("created"),
             "author": (node.find(_tag("author")).get("name")  # type: ignore[union-attr]
                        if node.find(_tag("author")) is not None else ""),
             "body": node.findtext(_tag("body")) or "",
             "attachments": [
                 {"filename": item.get("filename"), "content_type": item.get("content-type"),
                  "size": int(item.get("size", "0")), "inline": item.get("inline") == "true"}
                 for item in node.iterfind(_tag("attachment"))]}
            for node in element.iterfind(f"{_tag('messages')}/{_tag('message')}")],
    }


def _text(parent: etree._Element, name: str, value: str) -> None:
    etree.SubElement(parent, _tag(name)).text = _clean(value)


def _person(parent: etree._Element, name: str, display: str, email: str | None) -> None:
    node = etree.SubElement(parent, _tag(name))
    node.set("name", _clean(display)[:200])
    if email:
        node.set("email", _clean(email))


def _clean(value: str) -> str:
    # Mail bodies may hold control characters that XML 1.0 cannot carry.
    return "".join(char if _xml_char(char) else "\ufffd" for char in value) \
        if not value.isprintable() else value


def _xml_char(char: str) -> bool:
    code = ord(char)
    return (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF)
