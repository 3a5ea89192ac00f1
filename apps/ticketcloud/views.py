"""The JSON shapes of a ticket for customers and for agents.

A customer's view is built from an allow-list: it never contains internal notes, their
attachments, the history, tags, the team or the assignee, even when the caller passes
them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ticketcloud.models import Attachment, HistoryEntry, Message, Ticket, Visibility
from ticketcloud.status import Status

# The status shown to customers. On hold (waiting on a third party) is still open work
# from the customer's point of view.
CUSTOMER_STATUS = {
    Status.NEW: "open", Status.OPEN: "open", Status.ON_HOLD: "open",
    Status.PENDING: "pending", Status.SOLVED: "solved", Status.CLOSED: "closed",
}


def public_view(ticket: Ticket, messages: Iterable[Message], *,
                attachments: Sequence[Attachment] = (),
                category_name: str | None = None) -> dict[str, Any]:
    """Return what the requester may see of a ticket: its public messages only. Pass
    `category_name` only when the tenant's settings expose the category."""
    public = [message for message in messages if message.visibility is Visibility.PUBLIC]
    view: dict[str, Any] = {
        "number": ticket.number,
        "subject": ticket.subject,
        "status": CUSTOMER_STATUS[ticket.status],
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
        "requester": {"name": ticket.requester_name, "email": ticket.requester_email},
        "messages": [_public_message(message, attachments) for message in public],
    }
    if category_name is not None:
        view["category"] = category_name
    return view


def agent_view(ticket: Ticket, messages: Iterable[Message], *,
               history: Iterable[HistoryEntry] = (),
               attachments: Sequence[Attachment] = ()) -> dict[str, Any]:
    """Return everything about a ticket for agents and admins."""
    return {
        "number": ticket.number, "subject": ticket.subject, "status": ticket.status.value,
        "priority": ticket.priority.value, "channel": ticket.channel.value,
        "requester": {"name": ticket.requester_name, "email": ticket.requester_email,
                      "user_id": ticket.requester_user_id},
        "category_id": ticket.category_id, "team_id": ticket.team_id,
        "assignee_id": ticket.assignee_id, "tags": list(ticket.tags),
        "version": ticket.version,
        "created_at": iso(ticket.created_at), "updated_at": iso(ticket.updated_at),
        "first_response_at": iso(ticket.first_response_at),
        "solved_at": iso(ticket.solved_at), "closed_at": iso(ticket.closed_at),
        "due_at": iso(ticket.due_at),
        "messages": [{**_public_message(message, attachments),
                      "visibility": message.visibility.value,
                      "author_user_id": message.author_user_id,
                      "author_email": message.author_email}
                     for message in messages],
        "history": [_history_entry(entry) for entry in history],
    }


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _public_message(message: Message, attachments: Sequence[Attachment]) -> dict[str, Any]:
    return {
        "id": message.id, "author": message.author_name, "from_agent": message.from_agent,
        "body": message.body, "created_at": iso(message.created_at),
        "attachments": [{"id": item.id, "filename": item.filename,
                         "content_type": item.content_type, "size": item.size}
                        for item in attachments if item.message_id == message.id],
    }


def _history_entry(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "field": entry.field, "old": entry.old_value, "new": entry.new_value,
        "actor_user_id": entry.actor_user_id, "rule_id": entry.rule_id,
        "rule_name": entry.rule_name, "reason": entry.reason,
        "created_at": iso(entry.created_at),
    }
