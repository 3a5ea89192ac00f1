"""The OpenAPI schemas and paths of the SLA admin API, merged into `openapi.py`'s
document. Limits and enums come from the SLA modules themselves."""

from __future__ import annotations

from typing import Any

from ticketcloud import openapi as base
from ticketcloud.models import MAX_NAME, Priority, TargetKind, TargetState
from ticketcloud.sla.calendars import MAX_INTERVALS_PER_DAY, MAX_YEAR, MIN_YEAR, WEEKDAYS
from ticketcloud.sla.holiday_import import MAX_ICAL_BYTES, MAX_IMPORT_YEARS
from ticketcloud.sla.policies import MAX_TARGET_MINUTES, MAX_VALUES, TARGET_FIELDS

Schema = dict[str, Any]
TAG = "sla"
ADMIN = "Admins only."


def sla_schemas() -> dict[str, Schema]:
    time = {"type": "string", "format": "date-time"}
    optional_time = {**time, "type": ["string", "null"]}
    clock = {"type": "string", "pattern": "^([01][0-9]|2[0-4]):[0-5][0-9]$"}
    interval = {"type": "array", "items": clock, "minItems": 2, "maxItems": 2}
    day = {"type": "array", "items": interval, "maxItems": MAX_INTERVALS_PER_DAY}
    holiday = base.obj({"date": {"type": "string", "format": "date"},
                        "name": {"type": "string"}}, required=("date",))
    calendar_fields: dict[str, Schema] = {
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
        "time_zone": {"type": "string", "description": "An IANA zone; UTC when left out.",
                      "examples": ["Europe/Berlin"]},
        "hours": base.obj({name: day for name in WEEKDAYS}, required=()),
        "holidays": {"type": "array", "items": holiday,
                     "description": f"Dates from {MIN_YEAR} to {MAX_YEAR}."},
    }
    minutes = {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_TARGET_MINUTES}
    values = {"type": "array", "minItems": 1, "maxItems": MAX_VALUES}
    conditions = base.obj({
        "priorities": {**values, "items": base.enum_of(Priority)},
        "category_ids": {**values, "items": {"type": "integer"}},
        "team_ids": {**values, "items": {"type": "integer"}},
        "customers": {**values, "items": {"type": "string"},
                      "description": "Email addresses or domains."},
    }, required=())
    policy_fields: dict[str, Schema] = {
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
        "enabled": {"type": "boolean", "default": True},
        "conditions": conditions,
        "calendar_id": {"type": ["integer", "null"],
                        "description": "None measures on the 24/7 calendar in UTC."},
        **{name: minutes for name in TARGET_FIELDS.values()},
        "warning_percent": {"type": "integer", "minimum": 1, "maximum": 99, "default": 80},
        "escalation": {
            "type": "array", "maxItems": 3, "default": [{"action": "notify"}],
            "description": "What a breach does besides notifying: raise_priority (one step, "
                           "or to `priority`) and reassign (to `team_id`).",
            "items": base.obj({"action": base.enum_of(["notify", "raise_priority",
                                                       "reassign"]),
                               "priority": base.enum_of(["low", "normal", "high", "urgent"]),
                               "team_id": {"type": "integer"}}, required=("action",))},
    }
    return {
        "SlaCalendar": base.obj({"id": {"type": "integer"}, **calendar_fields}),
        "SlaCalendarInput": base.obj(calendar_fields, required=("name", "hours")),
        "HolidayImport": base.obj({
            "country": {"type": "string", "description": "An ISO 3166 code such as DE."},
            "region": {"type": "string", "description": "A subdivision code such as BY."},
            "years": {"type": "array", "items": {"type": "integer", "minimum": MIN_YEAR,
                                                 "maximum": MAX_YEAR},
                      "minItems": 1, "maxItems": MAX_IMPORT_YEARS},
            "ical": {"type": "string", "maxLength": MAX_ICAL_BYTES,
                     "description": "The text of an iCalendar (.ics) file."},
            "replace": {"type": "boolean", "default": False},
        }, required=()),
        "SlaPolicy": base.obj({
            "id": {"type": "integer"}, "position": {"type": "integer"}, **policy_fields,
            "shadowed_by": {"type": ["integer", "null"],
                            "description": "An earlier policy that matches every ticket "
                                           "this one matches, so this one never applies."}}),
        "SlaPolicyInput": base.obj(policy_fields, required=("name",)),
        "SlaFigures": base.obj({
            "id": {"type": ["integer", "null"],
                   "description": "The team's or agent's id; null for the total."},
            "targets": {"type": "integer", "description": "Targets decided in the period."},
            "met": {"type": "integer"}, "missed": {"type": "integer"},
            "met_share": {"type": ["number", "null"], "description": "met / targets."},
            "first_responses": {"type": "integer"},
            "median_first_response_minutes": {"type": ["number", "null"]},
            "resolutions": {"type": "integer"},
            "median_resolution_minutes": {"type": ["number", "null"]}}),
        "SlaReport": base.obj({
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date"},
            "total": base.ref("SlaFigures"),
            "teams": {"type": "array", "items": base.ref("SlaFigures")},
            "agents": {"type": "array", "items": base.ref("SlaFigures")}}),
        "SlaPolicyMove": base.obj({"policy_id": {"type": "integer"},
                                   "position": {"type": "integer", "minimum": 0}}),
        "SlaTarget": base.obj({
            "kind": base.enum_of(TargetKind), "state": base.enum_of(TargetState),
            "target_minutes": {"type": "integer"},
            "warning_seconds": {"type": "integer",
                                "description": "Business seconds after which the target "
                                               "warns: the policy's warning_percent of "
                                               "target_minutes, rounded up to the second."},
            "consumed_minutes": {"type": "integer"},
            "policy_id": {"type": ["integer", "null"]},
            "calendar_id": {"type": ["integer", "null"]}, "started_at": time,
            "due_at": optional_time, "warn_at": optional_time, "completed_at": optional_time}),
    }


def sla_paths() -> dict[str, Any]:
    op, ok, body, ref = base._op, base._ok, base._body, base.ref
    calendar_id = [base._path_parameter("calendar_id", "The calendar's id.")]
    policy_id = [base._path_parameter("policy_id", "The policy's id.")]
    calendar = ok(ref("SlaCalendar"), "The calendar.")
    policy = ok(ref("SlaPolicy"), "The policy.")
    return {
        "/sla/calendars": {
            "get": op("List SLA calendars", ok(base.list_of(ref("SlaCalendar")), "By name."),
                      "403", tag=TAG, description=ADMIN),
            "post": op("Create an SLA calendar", ok(ref("SlaCalendar"), "The calendar.", "201"),
                       "403", "409", "422", body=body("SlaCalendarInput"), tag=TAG,
                       description=ADMIN),
        },
        "/sla/calendars/{calendar_id}": {
            "parameters": calendar_id,
            "get": op("Get an SLA calendar", calendar, "403", "404", tag=TAG,
                      description=ADMIN),
            "put": op("Replace an SLA calendar", calendar, "403", "404", "409", "422",
                      body=body("SlaCalendarInput"), tag=TAG,
                      description=ADMIN + " Running targets on it are re-timed."),
            "delete": op("Delete an SLA calendar", ok(None, "Deleted.", "204"), "403", "404",
                         "409", tag=TAG,
                         description=ADMIN + " 409 `calendar_in_use` while a policy uses it."),
        },
        "/sla/calendars/{calendar_id}/holidays/import": {
            "parameters": calendar_id,
            "post": op("Import holidays", calendar, "403", "404", "422",
                       body=body("HolidayImport"), tag=TAG,
                       description=ADMIN + " Send `country` and `years` (and optionally "
                                   "`region`) or `ical`."),
        },
        "/sla/policies": {
            "get": op("List SLA policies", ok(base.list_of(ref("SlaPolicy")),
                                              "In matching order."), "403", tag=TAG,
                      description=ADMIN),
            "post": op("Create an SLA policy", ok(ref("SlaPolicy"), "The policy, last.", "201"),
                       "403", "404", "422", body=body("SlaPolicyInput"), tag=TAG,
                       description=ADMIN),
        },
        "/sla/policies/{policy_id}": {
            "parameters": policy_id,
            "get": op("Get an SLA policy", policy, "403", "404", tag=TAG, description=ADMIN),
            "put": op("Replace an SLA policy", policy, "403", "404", "422",
                      body=body("SlaPolicyInput"), tag=TAG, description=ADMIN),
            "delete": op("Delete an SLA policy", ok(None, "Deleted.", "204"), "403", "404",
                         tag=TAG, description=ADMIN),
        },
        "/sla/report": {
            "get": op("Get the SLA report", ok(ref("SlaReport"), "Per team and agent."),
                      "403", "422", tag=TAG,
                      parameters=[base._query("from", "First day, YYYY-MM-DD in UTC; default "
                                              "29 days before `to`.", {"type": "string",
                                                                      "format": "date"}),
                                  base._query("to", "Last day, inclusive; default today.",
                                              {"type": "string", "format": "date"})],
                      description="Agents and admins. A target counts when it was completed "
                                  "in the period or passed its due time in it; medians are "
                                  "business minutes of completed targets."),
        },
        "/sla/policies/reorder": {
            "post": op("Move an SLA policy", ok(base.list_of(ref("SlaPolicy")),
                                                "All policies in order."),
                       "403", "404", "422", body=body("SlaPolicyMove"), tag=TAG,
                       description=ADMIN),
        },
    }
