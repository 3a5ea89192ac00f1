"""The OpenAPI 3.1 document of TicketCloud's REST API, built from the code's own limits
and enums so that the two cannot drift apart.

`tests/apps/ticketcloud/api/test_openapi.py` validates the document and fails when a
route in `api_routes.routes` has no operation here.
"""

from __future__ import annotations

from typing import Any

from ticketcloud.api_attachments import MAX_UPLOAD_BYTES
from ticketcloud.api_listing import DEFAULT_PER_PAGE, MAX_PER_PAGE, SORT_FIELDS
from ticketcloud.attachments import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS
from ticketcloud.checks import MAX_BODY
from ticketcloud.models import MAX_SUBJECT, AssignmentStrategy, Channel, Priority, Visibility
from ticketcloud.rules import ActionType, ConditionField, Operator
from ticketcloud.status import Status
from ticketcloud.views import CUSTOMER_STATUS

JSON = "application/json"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(type_name: str) -> Schema:
    return {"type": [type_name, "null"]}


def enum_of(values: Any) -> Schema:
    return {"type": "string", "enum": sorted({str(getattr(v, "value", v)) for v in values})}


def obj(properties: dict[str, Schema], *, required: tuple[str, ...] | None = None,
        closed: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": properties,
                      "required": list(properties if required is None else required)}
    if closed:
        schema["additionalProperties"] = False
    return schema


def list_of(item: Schema) -> Schema:
    return obj({"items": {"type": "array", "items": item}})


def _ticket_schemas() -> dict[str, Schema]:
    attachment = obj({"id": {"type": "integer"}, "filename": {"type": "string"},
                      "content_type": {"type": "string"}, "size": {"type": "integer"}})
    public_message: dict[str, Schema] = {
        "id": {"type": "integer"}, "author": {"type": "string"},
        "from_agent": {"type": "boolean"}, "body": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "attachments": {"type": "array", "items": ref("Attachment")},
    }
    agent_message: dict[str, Schema] = {
        **public_message, "visibility": enum_of(Visibility),
        "author_user_id": nullable("integer"), "author_email": nullable("string"),
    }
    history = obj({"field": {"type": "string"}, "old": nullable("string"),
                   "new": nullable("string"), "actor_user_id": nullable("integer"),
                   "rule_id": nullable("integer"), "rule_name": nullable("string"),
                   "reason": {"type": "string"},
                   "created_at": {"type": "string", "format": "date-time"}})
    time = {"type": "string", "format": "date-time"}
    agent_summary = {
        "number": {"type": "integer"}, "subject": {"type": "string"},
        "status": enum_of(Status), "priority": enum_of(Priority), "channel": enum_of(Channel),
        "requester": obj({"name": {"type": "string"}, "email": {"type": "string"},
                          "user_id": nullable("integer")}),
        "category_id": nullable("integer"), "team_id": nullable("integer"),
        "assignee_id": nullable("integer"),
        "tags": {"type": "array", "items": {"type": "string"}},
        "version": {"type": "integer", "description": "Send it back in PATCH as `version`."},
        "created_at": time, "updated_at": time,
        "first_response_at": {**time, "type": ["string", "null"]},
        "solved_at": {**time, "type": ["string", "null"]},
        "closed_at": {**time, "type": ["string", "null"]},
    }
    public_summary = {
        "number": {"type": "integer"}, "subject": {"type": "string"},
        "status": enum_of(CUSTOMER_STATUS.values()), "created_at": time, "updated_at": time,
        "requester": obj({"name": {"type": "string"}, "email": {"type": "string"}}),
        "category": {"type": "string", "description": "Only when the workspace shows it."},
    }
    public_required = tuple(name for name in public_summary if name != "category")
    return {
        "Error": obj({"error": obj({
            "code": {"type": "string", "examples": ["invalid_input", "stale_version"]},
            "message": {"type": "string"},
            "field": {"type": "string", "description": "The input at fault, when one is."},
        }, required=("code", "message"))}),
        "Attachment": attachment,
        "PublicMessage": obj(public_message),
        "AgentMessage": obj(agent_message),
        "HistoryEntry": history,
        "AgentTicketSummary": obj(agent_summary),
        "PublicTicketSummary": obj(public_summary, required=public_required),
        "AgentTicket": obj({**agent_summary,
                            "messages": {"type": "array", "items": ref("AgentMessage")},
                            "history": {"type": "array", "items": ref("HistoryEntry")}}),
        "PublicTicket": obj({**public_summary,
                             "messages": {"type": "array", "items": ref("PublicMessage")}},
                            required=(*public_required, "messages")),
        "Ticket": {"oneOf": [ref("AgentTicket"), ref("PublicTicket")],
                   "description": "AgentTicket for agents and admins, PublicTicket for "
                                  "customers."},
        "Message": {"oneOf": [ref("AgentMessage"), ref("PublicMessage")]},
        "TicketList": obj({
            "items": {"type": "array", "items": {"oneOf": [ref("AgentTicketSummary"),
                                                           ref("PublicTicketSummary")]}},
            "next": {"type": ["string", "null"], "format": "uri",
                     "description": "The URL of the next page; null on the last page."}}),
        "NewTicket": obj({
            "subject": {"type": "string", "maxLength": MAX_SUBJECT},
            "body": {"type": "string", "maxLength": MAX_BODY},
            "requester_email": {"type": "string", "format": "email",
                                "description": "Required for agents and admins; customers "
                                               "must leave it out."},
            "requester_name": {"type": "string"},
            "category_id": nullable("integer")}, required=("subject", "body")),
        "TicketChanges": obj({
            "version": {"type": "integer"}, "status": enum_of(Status),
            "priority": enum_of(Priority), "category_id": nullable("integer"),
            "team_id": nullable("integer"), "assignee_id": nullable("integer"),
            "tags": {"type": "array", "items": {"type": "string"}}}, required=("version",)),
        "NewMessage": obj({"body": {"type": "string", "maxLength": MAX_BODY}}),
        "Upload": obj({
            "file": {"type": "array", "maxItems": MAX_ATTACHMENTS,
                     "items": {"type": "string", "contentMediaType": "application/octet-stream",
                               "description": f"At most {MAX_ATTACHMENT_BYTES:,} bytes."}},
            "body": {"type": "string"}, "visibility": enum_of(Visibility)},
            required=("file",)),
    }


def _rule_schemas() -> dict[str, Schema]:
    time = {"type": "string", "format": "date-time"}
    condition = obj({"field": enum_of(ConditionField), "operator": enum_of(Operator),
                     "value": {"oneOf": [{"type": "string"},
                                         {"type": "array", "items": {"type": "string"}}]}})
    action = obj({"type": enum_of(ActionType),
                  "value": {"description": "An id for set_category, set_team and "
                            "set_assignee, a priority for set_priority, a list of tags "
                            "for add_tags; none for stop."}}, required=("type",))
    rule_input = obj({"name": {"type": "string", "maxLength": 100},
                      "enabled": {"type": "boolean", "default": True},
                      "match": {**enum_of(("all", "any")), "default": "all"},
                      "conditions": {"type": "array", "items": ref("Condition")},
                      "actions": {"type": "array", "items": ref("Action")}},
                     required=("name", "conditions", "actions"))
    return {
        "Condition": condition,
        "Action": action,
        "RuleInput": rule_input,
        "Rule": obj({"id": {"type": "integer"}, "position": {"type": "integer"},
                     "name": {"type": "string"}, "enabled": {"type": "boolean"},
                     "match": enum_of(("all", "any")),
                     "conditions": {"type": "array", "items": ref("Condition")},
                     "actions": {"type": "array", "items": ref("Action")},
                     "created_at": time, "updated_at": time}),
        "RuleMove": obj({"rule_id": {"type": "integer"}, "position": {"type": "integer",
                                                                      "minimum": 0}}),
        "Sample": obj({"subject": {"type": "string"}, "body": {"type": "string"},
                       "sender_email": {"type": "string", "format": "email"},
                       "channel": enum_of(Channel), "priority": enum_of(Priority),
                       "category": {"type": "string"},
                       "customer": {"type": "string", "format": "email"}},
                      required=("sender_email",)),
        "DryRun": obj({
            "fired": {"type": "array", "items": obj({
                "rule_id": nullable("integer"), "name": {"type": "string"},
                "actions": {"type": "array", "items": ref("Action")}})},
            "result": obj({"category_id": nullable("integer"),
                           "priority": {"type": ["string", "null"]},
                           "team_id": nullable("integer"), "assignee_id": nullable("integer"),
                           "tags": {"type": "array", "items": {"type": "string"}}})}),
    }


def _directory_schemas() -> dict[str, Schema]:
    rollup = obj({"id": {"type": "integer"}, "count": {"type": "integer"},
                  "average": {"type": "number"}})
    return {
        "RatingsReport": obj({"agents": {"type": "array", "items": rollup},
                              "teams": {"type": "array", "items": rollup}}),
        "Team": obj({"id": {"type": "integer"}, "name": {"type": "string"},
                     "strategy": enum_of(AssignmentStrategy),
                     "member_ids": {"type": "array", "items": {"type": "integer"}}}),
        "Category": obj({"id": {"type": "integer"}, "name": {"type": "string"}}),
        "Agent": obj({"id": {"type": "integer"}, "name": {"type": "string"},
                      "away": {"type": "boolean"}}),
    }


def _schemas() -> dict[str, Schema]:
    return {**_ticket_schemas(), **_rule_schemas(), **_directory_schemas()}



_ERRORS = {
    "401": "Not signed in, or the token is invalid.",
    "403": "The caller's role does not allow this, or the CSRF token is missing.",
    "404": "Not found, or not visible to the caller.",
    "409": "Conflict: `stale_version` when the ticket changed since it was loaded.",
    "411": "The upload has no Content-Length.",
    "413": "The upload is too large.",
    "422": "Invalid input; `field` names it.",
}


def _error_responses(*codes: str) -> dict[str, Any]:
    return {code: {"$ref": f"#/components/responses/E{code}"} for code in ("401", *codes)}


def _ok(schema: Schema | None, description: str, status: str = "200",
        media: str = JSON) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = {media: {"schema": schema}}
    return {status: response}


def _body(name: str, media: str = JSON) -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": ref(name)}}}


def _op(summary: str, responses: dict[str, Any], *errors: str, body: dict[str, Any] | None = None,
        parameters: list[dict[str, Any]] | None = None, tag: str = "tickets",
        description: str | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "tags": [tag],
                                 "responses": {**responses, **_error_responses(*errors)}}
    if description:
        operation["description"] = description
    if body is not None:
        operation["requestBody"] = body
    if parameters:
        operation["parameters"] = parameters
    return operation


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "integer", "minimum": 1}}


def _query(name: str, description: str, schema: Schema) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


_LIST_PARAMETERS = [
    _query("status", "Comma-separated statuses.", {"type": "string"}),
    _query("priority", "Agents only.", enum_of(Priority)),
    _query("team", "A team id. Agents only.", {"type": "integer"}),
    _query("assignee", "A user id, or `me`. Agents only.", {"type": "string"}),
    _query("category", "A category id. Agents only.", {"type": "integer"}),
    _query("tag", "Agents only.", {"type": "string"}),
    _query("q", "Text in the subject or a message body (customers: public messages).",
           {"type": "string", "maxLength": 200}),
    _query("sort", "The sort key.", {**enum_of(SORT_FIELDS), "default": "created_at"}),
    _query("order", "The sort direction.", {**enum_of(("asc", "desc")), "default": "desc"}),
    _query("cursor", "From a previous page's `next` link.", {"type": "string"}),
    _query("page", "A page number; use instead of cursor.", {"type": "integer", "minimum": 1}),
    _query("per_page", "Tickets per page.", {"type": "integer", "minimum": 1,
                                             "maximum": MAX_PER_PAGE,
                                             "default": DEFAULT_PER_PAGE}),
]


def _paths() -> dict[str, Any]:
    number = [_path_parameter("number", "The ticket's number in its workspace.")]
    rule_id = [_path_parameter("rule_id", "The rule's id.")]
    return {
        "/tickets": {
            "get": _op("List tickets", _ok(ref("TicketList"), "One page of tickets."), "403",
                       "422", parameters=_LIST_PARAMETERS,
                       description="Agents and admins see every ticket of the workspace; "
                                   "customers see the tickets they requested."),
            "post": _op("Create a ticket", _ok(ref("Ticket"), "The new ticket.", "201"), "403",
                        "404", "422", body=_body("NewTicket"),
                        description="The tenant's rules and team assignment apply."),
        },
        "/tickets/{number}": {
            "parameters": number,
            "get": _op("Get a ticket", _ok(ref("Ticket"), "The ticket."), "404"),
            "patch": _op("Change a ticket's fields", _ok(ref("AgentTicket"), "The ticket."),
                         "403", "404", "409", "422", body=_body("TicketChanges")),
        },
        "/tickets/{number}/messages": {
            "parameters": number,
            "get": _op("List a ticket's messages",
                       _ok(list_of(ref("Message")), "Customers get public messages only."),
                       "404"),
        },
        "/tickets/{number}/replies": {
            "parameters": number,
            "post": _op("Reply to a ticket", _ok(ref("Message"), "The reply.", "201"), "404",
                        "409", "422", body=_body("NewMessage")),
        },
        "/tickets/{number}/notes": {
            "parameters": number,
            "post": _op("Add an internal note", _ok(ref("AgentMessage"), "The note.", "201"),
                        "403", "404", "409", "422", body=_body("NewMessage"),
                        description="Agents and admins only; customers get 403."),
        },
        "/tickets/{number}/history": {
            "parameters": number,
            "get": _op("Get a ticket's history",
                       _ok(list_of(ref("HistoryEntry")), "Oldest first."), "403", "404"),
        },
        "/tickets/{number}/attachments": {
            "parameters": number,
            "post": _op("Upload attachments", _ok(ref("Message"), "The message that carries "
                                                  "the files.", "201"),
                        "403", "404", "409", "411", "413", "422",
                        body=_body("Upload", "multipart/form-data"), tag="attachments",
                        description=f"At most {MAX_ATTACHMENTS} files and "
                                    f"{MAX_UPLOAD_BYTES:,} bytes in all."),
        },
        "/attachments/{attachment_id}": {
            "parameters": [_path_parameter("attachment_id", "The attachment's id.")],
            "get": _op("Download an attachment",
                       _ok({"type": "string", "contentMediaType": "application/octet-stream"},
                           "The file, always as a download with nosniff.",
                           media="application/octet-stream"), "404", tag="attachments"),
        },
        "/rules": {
            "get": _op("List the rules", _ok(list_of(ref("Rule")), "In evaluation order."),
                       "403", tag="rules"),
            "post": _op("Create a rule", _ok(ref("Rule"), "The rule, last in order.", "201"),
                        "403", "404", "422", body=_body("RuleInput"), tag="rules"),
        },
        "/rules/{rule_id}": {
            "parameters": rule_id,
            "get": _op("Get a rule", _ok(ref("Rule"), "The rule."), "403", "404", tag="rules"),
            "put": _op("Replace a rule", _ok(ref("Rule"), "The rule."), "403", "404", "422",
                       body=_body("RuleInput"), tag="rules"),
            "delete": _op("Delete a rule", _ok(None, "Deleted.", "204"), "403", "404",
                          tag="rules"),
        },
        "/rules/reorder": {
            "post": _op("Move a rule", _ok(list_of(ref("Rule")), "All rules in order."),
                        "403", "404", "422", body=_body("RuleMove"), tag="rules"),
        },
        "/rules/dry-run": {
            "post": _op("Try the rules on a sample ticket",
                        _ok(ref("DryRun"), "The rules that fire and what they would set."),
                        "403", "422", body=_body("Sample"), tag="rules"),
        },
        "/ratings/report": {
            "get": _op("Ratings per agent and team", _ok(ref("RatingsReport"), "Roll-ups."),
                       "403", tag="reports"),
        },
        "/teams": {"get": _op("List teams", _ok(list_of(ref("Team")), "By name."), "403",
                              tag="directory")},
        "/categories": {"get": _op("List categories", _ok(list_of(ref("Category")),
                                                          "By name."), "403",
                                   tag="directory")},
        "/agents": {"get": _op("List assignable agents", _ok(list_of(ref("Agent")),
                                                              "Active agents and admins."),
                               "403", tag="directory")},
        "/openapi.json": {"get": {"summary": "This document", "tags": ["meta"],
                                  "responses": _ok({"type": "object"}, "OpenAPI 3.1.")}},
    }


def openapi_document(server_url: str) -> dict[str, Any]:
    """Return the OpenAPI 3.1.0 document with `server_url` as the API's base URL."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "TicketCloud API", "version": "1.0.0",
                 "description": "Tickets, replies, attachments and assignment rules of one "
                                "MiPortal workspace. Errors are `{\"error\": {\"code\", "
                                "\"message\", \"field\"}}`."},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A MiPortal API token."}},
            "responses": {f"E{code}": {"description": description,
                                       "content": {JSON: {"schema": ref("Error")}}}
                          for code, description in _ERRORS.items()},
        },
    }
