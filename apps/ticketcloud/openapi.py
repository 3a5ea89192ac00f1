"""The OpenAPI 3.1 document of TicketCloud's REST API, built from the code's own limits
and enums so that the two cannot drift apart.

`tests/apps/ticketcloud/api/test_openapi.py` validates the document and fails when a
route in `api_routes.routes` has no operation here.
"""

from __future__ import annotations

from typing import Any

from ticketcloud import openapi_mail_templates, openapi_sla, openapi_sync
from ticketcloud.api_attachments import MAX_UPLOAD_BYTES
from ticketcloud.api_listing import DEFAULT_PER_PAGE, MAX_PER_PAGE, SORT_FIELDS
from ticketcloud.attachments import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS
from ticketcloud.checks import MAX_BODY
from ticketcloud.models import (
    MAX_NAME,
    MAX_SUBJECT,
    AssignmentStrategy,
    Channel,
    MailSkipReason,
    Priority,
    Visibility,
)
from ticketcloud.reports import RECENT_COMMENTS, SCORES
from ticketcloud.rules import ActionType, ConditionField, Operator
from ticketcloud.settings import MAX_AUTO_CLOSE_HOURS
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
    # `mail` is in the ticket's messages, not in the response to a new reply.
    public_message["mail"] = _mail_detail(agent=False)
    agent_message["mail"] = _mail_detail(agent=True)
    message_required = tuple(name for name in public_message if name != "mail")
    agent_message_required = tuple(name for name in agent_message if name != "mail")
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
        "due_at": {**time, "type": ["string", "null"],
                   "description": "The due time an agent set, in UTC; null when none is "
                                  "set. Separate from the SLA targets; customers never "
                                  "see it."},
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
        "PublicMessage": obj(public_message, required=message_required),
        "AgentMessage": obj(agent_message, required=agent_message_required),
        "HistoryEntry": history,
        "MailError": obj({
            "message_id": {**nullable("integer"),
                           "description": "The conversation message the mail carried; null "
                                          "for a confirmation or rating request."},
            "to": {"type": "array", "items": {"type": "string"}},
            "error": {"type": "string", "description": "The mail server's reply, such as "
                                                       "550 No such user."},
        }),
        "AgentTicketSummary": obj({
            **agent_summary,
            "sla_due": {"oneOf": [ref("SlaTarget"), {"type": "null"}],
                        "description": "The running SLA target due first, else a paused "
                                       "one; null without either."}}),
        "PublicTicketSummary": obj(public_summary, required=public_required),
        "AgentTicket": obj({**agent_summary,
                            "messages": {"type": "array", "items": ref("AgentMessage")},
                            "history": {"type": "array", "items": ref("HistoryEntry")},
                            "sla": {"type": "array", "items": ref("SlaTarget")},
                            "mail_errors": {"type": "array", "items": ref("MailError")},
                            **_mail_people()}),
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
            "tags": {"type": "array", "items": {"type": "string"}},
            "due_at": {"type": ["string", "null"], "format": "date-time",
                       "description": "The agent's due time, ISO 8601 with an offset or Z; "
                                      "null clears it. Leave it out when sending due_local."},
            "due_local": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$",
                          "description": "The agent's due time as wall-clock time "
                                         "YYYY-MM-DDTHH:MM in time_zone. A time that the "
                                         "zone skips or repeats when its clocks change is "
                                         "rejected (422, field due_local)."},
            "time_zone": {"type": "string", "examples": ["Europe/Paris"],
                          "description": "The IANA zone of due_local; required with it."}},
            required=("version",)),
        "NewMessage": obj({"body": {"type": "string", "maxLength": MAX_BODY}}),
        "Upload": obj({
            "file": {"type": "array", "maxItems": MAX_ATTACHMENTS,
                     "items": {"type": "string", "contentMediaType": "application/octet-stream",
                               "description": f"At most {MAX_ATTACHMENT_BYTES:,} bytes."}},
            "body": {"type": "string"}, "visibility": enum_of(Visibility)},
            required=("file",)),
    }


def _mail_detail(*, agent: bool) -> Schema:
    """A mail message's parts besides its body; null for a message not received by mail."""
    properties: dict[str, Schema] = {
        "quoted_text": {"type": "string", "description": "The quoted history."},
        "signature": {"type": "string"}}
    if agent:
        properties.update(
            has_html={"type": "boolean", "description": "Whether GET .../html has a "
                                                        "version to show."},
            skipped={"type": "array", "description": "Attachments over the limits, kept only "
                     "in the original mail.", "items": obj({
                         "filename": {"type": "string"}, "size": {"type": "integer"},
                         "reason": {"type": "string"}})},
            inbound_id=nullable("integer"))
    return {"oneOf": [obj(properties), {"type": "null"}]}


def _mail_people() -> dict[str, Schema]:
    return {
        "participants": {"type": "array", "description": "People besides the requester "
                         "who get agents' public replies in Cc.", "items": obj({
                             "email": {"type": "string"}, "name": {"type": "string"}})},
        "bouncing": {"type": "array", "description": "Addresses whose mail bounced.",
                     "items": obj({"email": {"type": "string"}, "status": {"type": "string"},
                                   "permanent": {"type": "boolean"},
                                   "diagnostic": {"type": "string"},
                                   "created_at": {"type": "string", "format": "date-time"}})},
        "mail_skipped": {"type": "array", "description": "Recipients that the ticket's mail "
                         "left out, oldest first: their address was bouncing (`bounced`) or "
                         "the outbox cannot send to it, such as an address that is not "
                         "ASCII (`unmailable`).",
                         "items": obj({"message_id": nullable("integer"),
                                       "email": {"type": "string"},
                                       "reason": enum_of(MailSkipReason),
                                       "bounced_at": {**nullable("string"),
                                                      "format": "date-time"},
                                       "created_at": {"type": "string",
                                                      "format": "date-time"}})},
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
                     "member_ids": {"type": "array", "items": {"type": "integer"}},
                     "lead_ids": {"type": "array", "items": {"type": "integer"}}}),
        "Category": obj({"id": {"type": "integer"}, "name": {"type": "string"}}),
        "Agent": obj({"id": {"type": "integer"}, "name": {"type": "string"},
                      "away": {"type": "boolean"}}),
    }


def _configuration_schemas() -> dict[str, Schema]:
    name = {"type": "string", "minLength": 1, "maxLength": MAX_NAME}
    strategy = {**enum_of(AssignmentStrategy), "default": AssignmentStrategy.ROUND_ROBIN.value}
    hours = {"type": "integer", "minimum": 1, "maximum": MAX_AUTO_CLOSE_HOURS}
    breakdown = obj({
        "id": {"type": "integer"}, "count": {"type": "integer"}, "average": {"type": "number"},
        "distribution": obj({str(score): {"type": "integer"} for score in SCORES}),
        "recent": {"type": "array", "maxItems": RECENT_COMMENTS, "items": obj({
            "ticket_number": {"type": "integer"},
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "comment": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"}})},
    })
    return {
        "TeamDetail": obj({"id": {"type": "integer"}, "name": {"type": "string"},
                           "strategy": enum_of(AssignmentStrategy),
                           "members": {"type": "array", "items": obj({
                               "user_id": {"type": "integer"}, "name": {"type": "string"},
                               "is_lead": {"type": "boolean"}, "away": {"type": "boolean"}})}}),
        "NewTeam": obj({"name": name, "strategy": strategy}, required=("name",)),
        "TeamChanges": obj({"name": name, "strategy": enum_of(AssignmentStrategy)},
                           required=()),
        "NewMember": obj({"user_id": {"type": "integer"},
                          "is_lead": {"type": "boolean", "default": False}},
                         required=("user_id",)),
        "MemberChanges": obj({"is_lead": {"type": "boolean"}}),
        "CategoryInput": obj({"name": name}),
        "AgentChanges": obj({"away": {"type": "boolean"}}),
        "Settings": obj({"auto_close_hours": hours, "expose_category": {"type": "boolean"}}),
        "SettingsChanges": obj({"auto_close_hours": hours,
                                "expose_category": {"type": "boolean"}}, required=()),
        "RatingsBreakdown": obj({"agents": {"type": "array", "items": breakdown},
                                 "teams": {"type": "array", "items": breakdown}}),
    }


def _schemas() -> dict[str, Schema]:
    return {**_ticket_schemas(), **_rule_schemas(), **_directory_schemas(),
            **_configuration_schemas(), **_mail_schemas()}


def _mail_schemas() -> dict[str, Schema]:
    return {"BouncingAddress": obj({"email": {"type": "string", "format": "email"}}),
            "MailSettings": obj({"support_address": {
        "type": ["string", "null"], "format": "email",
        "description": "Mail to this address becomes a ticket; null receives no mail."},
        "trusted_authserv_id": {
        "type": ["string", "null"], "maxLength": 255,
        "description": "The authserv-id of the Authentication-Results headers that the "
                       "workspace's mail server adds. Mail from an agent's address counts "
                       "as the agent's public reply only when such a header reports "
                       "dkim=pass or spf=pass for the agent's domain; otherwise it becomes "
                       "an internal note. Empty trusts no header. Omitted in a PUT: "
                       "unchanged."}}, required=("support_address",))}


def _mail_paths() -> dict[str, Any]:
    admin = "Admins only."
    return {
        "/settings/mail": {
            "get": _op("Get the support address", _ok(ref("MailSettings"),
                       "The support address."), "403", tag="settings", description=admin),
            "put": _op("Set the support address", _ok(ref("MailSettings"),
                       "The support address as stored, lowercased."), "403", "409", "422",
                       body=_body("MailSettings"), tag="settings",
                       description=admin + " The portal routes the address's mail to "
                       "TicketCloud at once; 409 when another workspace receives it."),
        },
    }


_ERRORS = {
    "401": "Not signed in, or the token is invalid.",
    "403": "The caller's role does not allow this, or the CSRF token is missing.",
    "404": "Not found, or not visible to the caller.",
    "409": "Conflict: `stale_version` when the ticket changed since it was loaded, "
           "`team_in_use` or `category_in_use` when tickets, rules or SLA policies still "
           "name what is deleted, "
           "`conflict` for a name that is taken.",
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
    _query("team", "Comma-separated team ids, where `mine` adds the caller's teams; a "
           "ticket of any of them matches. Agents only.", {"type": "string"}),
    _query("assignee", "A user id, `me`, or `none` for unassigned tickets. Agents only.",
           {"type": "string"}),
    _query("category", "A category id. Agents only.", {"type": "integer"}),
    _query("tag", "Agents only.", {"type": "string"}),
    _query("q", "Text in the subject or a message body (customers: public messages).",
           {"type": "string", "maxLength": 200}),
    _query("sla", "`overdue`: a running SLA target is past due, or the ticket is unresolved "
           "and past the due time an agent set; `at_risk`: a running SLA target is past "
           "its warning time but not due yet. Agents only.", enum_of(("overdue", "at_risk"))),
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
        "/tickets/{number}/bouncing/clear": {
            "parameters": number,
            "post": _op("Clear a bouncing mark",
                        _ok(obj({"email": {"type": "string"}}), "The address, lowercased."),
                        "403", "404", "422",
                        body=_body("BouncingAddress"),
                        description="Agents and admins only. Ticket mail goes to the address "
                                    "again; the ticket's history records who cleared it. 404 "
                                    "when the address is not bouncing on the ticket."),
        },
        "/tickets/{number}/messages/{message_id}/html": {
            "parameters": [*number, _path_parameter("message_id", "The message's id.")],
            "get": _op("Get the HTML version of a mail message",
                       _ok({"type": "object", "required": ["document"], "properties": {
                           "document": {"type": "string"}}},
                           "The sanitized HTML as a whole document with a Content-Security-"
                           "Policy that blocks scripts; show it only in a sandboxed iframe's "
                           "srcdoc."), "403", "404"),
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


def _configuration_paths() -> dict[str, Any]:
    team_id = [_path_parameter("team_id", "The team's id.")]
    member = [*team_id, _path_parameter("user_id", "The member's user id.")]
    admin = "Admins only."
    return {
        "/teams": {"post": _op("Create a team", _ok(ref("TeamDetail"), "The team.", "201"),
                               "403", "409", "422", body=_body("NewTeam"), tag="directory",
                               description=admin)},
        "/teams/{team_id}": {
            "parameters": team_id,
            "get": _op("Get a team", _ok(ref("TeamDetail"), "With its members."), "403",
                       "404", tag="directory"),
            "patch": _op("Rename a team or change its strategy",
                         _ok(ref("TeamDetail"), "The team."), "403", "404", "409", "422",
                         body=_body("TeamChanges"), tag="directory", description=admin),
            "delete": _op("Delete a team", _ok(None, "Deleted with its memberships.", "204"),
                          "403", "404", "409", tag="directory",
                          description=admin + " 409 `team_in_use` while a ticket, a rating, "
                          "a rule or an SLA policy names the team."),
        },
        "/teams/{team_id}/members": {
            "parameters": team_id,
            "post": _op("Add a member", _ok(ref("TeamDetail"), "The team.", "201"), "403",
                        "404", "409", "422", body=_body("NewMember"), tag="directory",
                        description=admin + " The user must be an active agent or admin."),
        },
        "/teams/{team_id}/members/{user_id}": {
            "parameters": member,
            "patch": _op("Make a member a lead or not", _ok(ref("TeamDetail"), "The team."),
                         "403", "404", "422", body=_body("MemberChanges"), tag="directory",
                         description=admin),
            "delete": _op("Remove a member", _ok(None, "Removed.", "204"), "403", "404",
                          tag="directory", description=admin),
        },
        "/categories": {"post": _op("Create a category",
                                    _ok(ref("Category"), "The category.", "201"), "403", "409",
                                    "422", body=_body("CategoryInput"), tag="directory",
                                    description=admin)},
        "/categories/{category_id}": {
            "parameters": [_path_parameter("category_id", "The category's id.")],
            "patch": _op("Rename a category", _ok(ref("Category"), "The category."), "403",
                         "404", "409", "422", body=_body("CategoryInput"), tag="directory",
                         description=admin),
            "delete": _op("Delete a category", _ok(None, "Deleted.", "204"), "403", "404",
                          "409", tag="directory",
                          description=admin + " 409 `category_in_use` while a ticket has "
                          "it, or a rule or an SLA policy names it."),
        },
        "/agents/{user_id}": {
            "parameters": [_path_parameter("user_id", "The agent's user id.")],
            "patch": _op("Set an agent's away flag", _ok(ref("Agent"), "The agent."), "403",
                         "404", "422", body=_body("AgentChanges"), tag="directory",
                         description="Agents set their own; admins anyone's. Team "
                                     "assignment skips agents who are away."),
        },
        "/settings": {
            "get": _op("Get TicketCloud's settings", _ok(ref("Settings"), "The settings."),
                       "403", tag="settings"),
            "patch": _op("Change TicketCloud's settings", _ok(ref("Settings"), "All settings."),
                         "403", "422", body=_body("SettingsChanges"), tag="settings",
                         description=admin + " A setting left out keeps its value."),
        },
        "/ratings/breakdown": {
            "get": _op("Ratings per agent and team in detail",
                       _ok(ref("RatingsBreakdown"), "Count, average, scores 1 to 5 and the "
                           f"{RECENT_COMMENTS} newest comments, per agent and per team."),
                       "403", tag="reports"),
        },
    }


def _merge_paths(*groups: dict[str, Any]) -> dict[str, Any]:
    """Return the path items of `groups` combined, joining the operations of a path that
    several groups name, such as GET and POST of /teams."""
    merged: dict[str, Any] = {}
    for group in groups:
        for path, item in group.items():
            merged[path] = {**merged.get(path, {}), **item}
    return merged


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
        "paths": _merge_paths(_paths(), _configuration_paths(), openapi_sla.sla_paths(),
                               _mail_paths(), openapi_mail_templates.template_paths(),
                               openapi_sync.sync_paths()),
        "components": {
            "schemas": {**_schemas(), **openapi_sla.sla_schemas(),
                        **openapi_mail_templates.template_schemas(),
                        **openapi_sync.sync_schemas()},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A MiPortal API token."}},
            "responses": {f"E{code}": {"description": description,
                                       "content": {JSON: {"schema": ref("Error")}}}
                          for code, description in _ERRORS.items()},
        },
    }
