"""REST API handlers for SLA calendars and policies (admins only) and the SLA report
(agents and admins).

A calendar or policy of another workspace is not found (404), like a missing one.
Changing a calendar's definition re-times the running targets measured on it in the
same transaction.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from portal.sdk import InvalidInput, Role, app_context, require_role, tenant_id, utcnow
from ticketcloud.api_support import (
    check_query,
    json_response,
    path_id,
    read_json,
    require_agent,
)
from ticketcloud.sla.calendars import (
    access_calendar,
    calendar_json,
    do_create_calendar,
    do_delete_calendar,
    do_update_calendar,
    list_calendars,
    merge_holidays,
)
from ticketcloud.sla.holiday_import import country_holidays, ical_holidays
from ticketcloud.sla.policies import (
    POLICY_FIELDS,
    access_policy,
    do_create_policy,
    do_delete_policy,
    do_move_policy,
    do_update_policy,
    list_policies,
    policy_json,
)
from ticketcloud.sla.report import check_period, report_json, sla_report
from ticketcloud.sla.targets import recompute_calendar

CALENDAR_FIELDS = ("name", "time_zone", "hours", "holidays")
# Fields that GET returns but PUT does not set, so that a body read with GET can be sent
# back: `id` must name the row in the path, the others are ignored.
CALENDAR_READ_ONLY = ("id",)
POLICY_READ_ONLY = ("id", "position", "shadowed_by")
IMPORT_FIELDS = ("country", "region", "years", "ical", "replace")


async def list_calendars_route(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    async with app_context(request).db.read() as session:
        rows = await list_calendars(session, tenant_id(request))
    return json_response({"items": [calendar_json(row) for row in rows]})


async def create_calendar(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=CALENDAR_FIELDS, required=("name", "hours"))
    async with app_context(request).transaction() as session:
        row = await do_create_calendar(session, tenant_id(request), data)
        view = calendar_json(row)
    return json_response(view, status_code=201,
                         headers={"Location": f"{request.url.path}/{row.id}"})


async def get_calendar(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    async with app_context(request).db.read() as session:
        row = await access_calendar(session, tenant_id(request),
                                    path_id(request, "calendar_id"))
        return json_response(calendar_json(row))


async def replace_calendar(request: Request) -> Response:
    """Replace a calendar's whole definition and re-time the targets that use it."""
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=(*CALENDAR_FIELDS, *CALENDAR_READ_ONLY),
                           required=("name", "hours"))
    calendar_id = path_id(request, "calendar_id")
    data = _without_read_only(data, CALENDAR_READ_ONLY, calendar_id, "calendar")
    tenant = tenant_id(request)
    async with app_context(request).transaction() as session:
        row, before = await do_update_calendar(session, tenant, calendar_id, data)
        assert row.id is not None
        await recompute_calendar(session, tenant, row.id, before, utcnow())
        view = calendar_json(row)
    return json_response(view)


async def delete_calendar(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    async with app_context(request).transaction() as session:
        await do_delete_calendar(session, tenant_id(request), path_id(request, "calendar_id"))
    return Response(status_code=204)


async def import_holidays(request: Request) -> Response:
    """Add holidays to a calendar from the `holidays` package (`country`, optional
    `region`, `years`) or from an iCalendar file's text (`ical`). `replace: true` drops
    the calendar's current holidays first; otherwise a date already listed keeps its
    name."""
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=IMPORT_FIELDS)
    if ("ical" in data) == ("country" in data):
        raise InvalidInput("Send either 'country' (with 'years' and an optional 'region') "
                           "or 'ical', the text of an iCalendar file.", field="country")
    if "ical" in data:
        added = ical_holidays(data["ical"])
    else:
        added = country_holidays(data["country"], data.get("region"), data.get("years"))
    replace = data.get("replace", False)
    if not isinstance(replace, bool):
        raise InvalidInput(f"Invalid replace {replace!r}: use true or false.", field="replace")
    tenant = tenant_id(request)
    async with app_context(request).transaction() as session:
        row = await access_calendar(session, tenant, path_id(request, "calendar_id"))
        holidays = merge_holidays([] if replace else row.holidays, added)
        definition: dict[str, Any] = {**calendar_json(row), "holidays": holidays}
        del definition["id"]
        row, before = await do_update_calendar(session, tenant, row.id, definition)
        assert row.id is not None
        await recompute_calendar(session, tenant, row.id, before, utcnow())
        view = calendar_json(row)
    return json_response(view)


async def list_policies_route(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    async with app_context(request).db.read() as session:
        policies = await list_policies(session, tenant_id(request))
    return json_response({"items": [policy_json(policy, policies) for policy in policies]})


async def create_policy(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=POLICY_FIELDS, required=("name",))
    tenant = tenant_id(request)
    async with app_context(request).transaction() as session:
        policy = await do_create_policy(session, tenant, data)
        view = policy_json(policy, await list_policies(session, tenant))
    return json_response(view, status_code=201,
                         headers={"Location": f"{request.url.path}/{policy.id}"})


async def get_policy(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    tenant = tenant_id(request)
    async with app_context(request).db.read() as session:
        policy = await access_policy(session, tenant, path_id(request, "policy_id"))
        return json_response(policy_json(policy, await list_policies(session, tenant)))


async def replace_policy(request: Request) -> Response:
    """Replace a policy's definition; its position stays."""
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=(*POLICY_FIELDS, *POLICY_READ_ONLY),
                           required=("name",))
    policy_id = path_id(request, "policy_id")
    data = _without_read_only(data, POLICY_READ_ONLY, policy_id, "policy")
    tenant = tenant_id(request)
    async with app_context(request).transaction() as session:
        policy = await do_update_policy(session, tenant, policy_id, data)
        view = policy_json(policy, await list_policies(session, tenant))
    return json_response(view)


async def delete_policy(request: Request) -> Response:
    require_role(request, Role.ADMIN)
    async with app_context(request).transaction() as session:
        await do_delete_policy(session, tenant_id(request), path_id(request, "policy_id"))
    return Response(status_code=204)


async def reorder_policies(request: Request) -> Response:
    """Move one policy to `position` (0 is matched first); return all policies in order."""
    require_role(request, Role.ADMIN)
    data = await read_json(request, allowed=("policy_id", "position"),
                           required=("policy_id", "position"))
    async with app_context(request).transaction() as session:
        policies = await do_move_policy(session, tenant_id(request), data["policy_id"],
                                        data["position"])
        views = [policy_json(policy, policies) for policy in policies]
    return json_response({"items": views})


async def sla_report_route(request: Request) -> Response:
    """Return the SLA report of the dates `from` to `to` (inclusive, UTC)."""
    require_agent(request)
    params = check_query(request, ("from", "to"))
    now = utcnow()
    period = check_period(params.get("from"), params.get("to"), now)
    async with app_context(request).db.read() as session:
        report = await sla_report(session, tenant_id(request), period, now)
    return json_response(report_json(report))


def _without_read_only(data: dict[str, Any], read_only: tuple[str, ...], row_id: int,
                       kind: str) -> dict[str, Any]:
    """Return `data` without the fields GET added; an `id` other than the path's is an
    error, since the body would then describe another row."""
    if "id" in data and data["id"] != row_id:
        raise InvalidInput(f"The body's id {data['id']!r} is not the {kind} in the path "
                           f"({row_id}); send this {kind}'s id or leave it out.", field="id")
    return {name: value for name, value in data.items() if name not in read_only}
