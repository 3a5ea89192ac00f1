"""The OpenAPI schemas and paths of the sync routes (`api_sync.py`), merged into
`openapi.py`'s document."""

from __future__ import annotations

from typing import Any

from ticketcloud import openapi as base
from ticketcloud.api_sync import MAX_LIMIT
from ticketcloud.models import Channel, Priority
from ticketcloud.status import Status

Schema = dict[str, Any]
TAG = "sync"
AGENTS = "Agents and admins only."


def sync_schemas() -> dict[str, Schema]:
    time = {"type": "string", "format": "date-time"}
    optional_time = {**time, "type": ["string", "null"]}
    optional_text = {"type": ["string", "null"]}
    synced = {
        "id": {"type": "integer"},
        "installation_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "source": {"type": "string", "description": "The child's name at this master."},
        "workspace": {"type": "string", "description": "The child's workspace."},
        "remote_id": {"type": "integer", "description": "The ticket's id on the child."},
        "number": {"type": "integer"}, "subject": {"type": "string"},
        "status": base.enum_of(Status), "priority": base.enum_of(Priority),
        "channel": base.enum_of(Channel), "requester_email": {"type": "string"},
        "requester_name": {"type": "string"}, "assignee_name": optional_text,
        "tags": {"type": "array", "items": {"type": "string"}},
        "message_count": {"type": "integer"}, "version": {"type": "integer"},
        "updated_at": time, "received_at": time,
    }
    message = base.obj({
        "id": {"type": "integer"}, "visibility": base.enum_of(("public", "internal")),
        "from_agent": {"type": "boolean"}, "created": time, "author": {"type": "string"},
        "body": {"type": "string"},
        "attachments": {"type": "array", "items": {"type": "object"}},
    }, required=("id", "visibility", "body"), closed=False)
    detail = {
        **synced,
        "category": optional_text, "team": optional_text, "created": optional_text,
        "solved": optional_text, "closed": optional_text,
        "messages": {"type": "array", "items": message},
    }
    return {
        "SyncedTicket": base.obj(synced),
        "SyncedTicketList": base.obj({
            "tickets": {"type": "array", "items": base.ref("SyncedTicket")},
            "sources": {"type": "array", "items": base.obj({
                "installation_id": {"type": "string"}, "name": {"type": "string"}})},
        }),
        "SyncedTicketDetail": base.obj(detail),
        "TicketSyncState": base.obj({
            "number": {"type": "integer"},
            "has_master": {"type": "boolean",
                           "description": "Whether this installation pushes to a master."},
            "state": base.enum_of(("pending", "synced", "not_synced")),
            "pending": {"type": "integer", "description": "Changes waiting to be pushed."},
            "delivered": {"type": "integer",
                          "description": "Changes the master acknowledged."},
            "version": {"type": "integer", "description": "The last change version staged."},
            "oldest_pending_at": optional_time, "last_delivered_at": optional_time,
            "last_error": {**optional_text,
                           "description": "The installation's last failed push, while this "
                                          "ticket has pending changes."},
        }),
    }


def sync_paths() -> dict[str, Any]:
    op, ok, ref = base._op, base._ok, base.ref
    return {
        "/synced-tickets": {
            "get": op("List synced tickets", ok(ref("SyncedTicketList"),
                                                "Newest change first, with the sources."),
                      "403", "422", tag=TAG, description=AGENTS + " On a master.",
                      parameters=[
                          base._query("installation", "A child's installation id.",
                                      {"type": "string"}),
                          base._query("status", "One status.", base.enum_of(Status)),
                          base._query("q", "Text in the subject or requester, or a number.",
                                      {"type": "string"}),
                          base._query("limit", "Tickets to return.",
                                      {"type": "integer", "minimum": 1,
                                       "maximum": MAX_LIMIT, "default": 50}),
                      ]),
        },
        "/synced-tickets/{synced_id}": {
            "parameters": [base._path_parameter("synced_id", "The synced ticket's id.")],
            "get": op("Get a synced ticket", ok(ref("SyncedTicketDetail"),
                                                "The latest snapshot with its messages."),
                      "403", "404", tag=TAG, description=AGENTS + " On a master."),
        },
        "/tickets/{number}/sync": {
            "parameters": [base._path_parameter("number", "The ticket's number in its "
                                                          "workspace.")],
            "get": op("Get a ticket's sync state", ok(ref("TicketSyncState"),
                                                      "The push state to the master."),
                      "403", "404", tag=TAG, description=AGENTS + " On a child."),
        },
    }
