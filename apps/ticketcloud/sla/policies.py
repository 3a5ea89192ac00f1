"""SLA policies: which tickets get which targets, in evaluation order.

A policy's conditions are lists of accepted values per ticket field: `priorities`,
`category_ids`, `team_ids` and `customers` (an email address, or a domain that matches
every address at exactly that domain). A ticket matches when, for every field the
policy lists, the ticket's value is one of the listed ones; a policy without conditions
matches every ticket.

The first enabled policy that matches wins, so policies that contradict each other
(both match, with different targets) resolve to the earlier one. A policy that an
earlier catch-all makes unreachable is kept but reported as `shadowed_by` the earlier
policy's id. A ticket that no policy matches has no SLA targets.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import InvalidInput, NotFound, access_row, cached_config, utcnow
from ticketcloud.categories import access_category
from ticketcloud.checks import EMAIL_PATTERN, check_id, check_label
from ticketcloud.models import Priority, SlaPolicy, TargetKind, Ticket
from ticketcloud.sla.calendars import access_calendar
from ticketcloud.sla.escalation_actions import check_escalation, check_escalation_references
from ticketcloud.teams import access_team

logger = logging.getLogger(__name__)

MAX_POLICIES = 100
MAX_VALUES = 100
# One year of round-the-clock minutes; a longer target is almost certainly a typing error.
MAX_TARGET_MINUTES = 366 * 24 * 60
CONDITION_FIELDS = ("priorities", "category_ids", "team_ids", "customers")
TARGET_FIELDS = {TargetKind.FIRST_RESPONSE: "first_response_minutes",
                 TargetKind.NEXT_RESPONSE: "next_response_minutes",
                 TargetKind.RESOLUTION: "resolution_minutes"}
POLICY_FIELDS = ("name", "enabled", "conditions", "calendar_id", *TARGET_FIELDS.values(),
                 "warning_percent", "escalation")


@dataclass(frozen=True)
class PolicyFacts:
    """The fields of a ticket that policies match on."""

    priority: str
    category_id: int | None
    team_id: int | None
    requester_email: str

    @classmethod
    def of_ticket(cls, ticket: Ticket) -> PolicyFacts:
        return cls(priority=ticket.priority.value, category_id=ticket.category_id,
                   team_id=ticket.team_id, requester_email=ticket.requester_email.lower())


def check_policy(data: Mapping[str, object]) -> dict[str, Any]:
    """Validate a policy definition and return its fields as stored (ids not yet
    checked against the tenant: see `check_policy_references`)."""
    checked: dict[str, Any] = {
        "name": check_label(data.get("name"), field="name"),
        "enabled": _check_bool(data.get("enabled", True), "enabled"),
        "conditions": check_conditions(data.get("conditions", {})),
        "calendar_id": (None if data.get("calendar_id") is None
                        else check_id(data.get("calendar_id"), field="calendar_id")),
        "warning_percent": _check_int(data.get("warning_percent", 80), "warning_percent",
                                      1, 99),
        "escalation": check_escalation(data.get("escalation")),
    }
    for name in TARGET_FIELDS.values():
        value = data.get(name)
        checked[name] = None if value is None else _check_int(value, name, 1,
                                                              MAX_TARGET_MINUTES)
    if all(checked[name] is None for name in TARGET_FIELDS.values()):
        raise InvalidInput("The policy sets no target; give at least one of "
                           f"{', '.join(TARGET_FIELDS.values())} in business minutes.",
                           field="first_response_minutes")
    return checked


def check_conditions(value: object) -> dict[str, list[Any]]:
    """Return conditions with every listed field non-empty. An empty list would match no
    ticket at all, so it is rejected instead of silently disabling the policy."""
    if not isinstance(value, Mapping):
        raise InvalidInput("Invalid conditions: send an object with any of "
                           f"{', '.join(CONDITION_FIELDS)}.", field="conditions")
    conditions: dict[str, list[Any]] = {}
    for name, values in value.items():
        where = f"conditions.{name}"
        if name not in CONDITION_FIELDS:
            raise InvalidInput(f"Unknown condition {name!r}: use any of "
                               f"{', '.join(CONDITION_FIELDS)}.", field=where)
        if not isinstance(values, list) or not values or len(values) > MAX_VALUES:
            raise InvalidInput(f"Invalid {name} {values!r}: send a list of 1 to {MAX_VALUES} "
                               "values, or leave the condition out to match any ticket.",
                               field=where)
        conditions[name] = sorted(set(_check_value(name, item, where) for item in values),
                                  key=str)
    return conditions


async def check_policy_references(session: AsyncSession, tenant_id: int,
                                  checked: Mapping[str, Any]) -> None:
    """Raise NotFound naming the field when a calendar, category or team id is not the
    tenant's."""
    if checked["calendar_id"] is not None:
        await access_calendar(session, tenant_id, checked["calendar_id"])
    conditions = checked["conditions"]
    for index, category_id in enumerate(conditions.get("category_ids", [])):
        await _named(access_category(session, tenant_id, category_id),
                     f"conditions.category_ids[{index}]")
    for index, team_id in enumerate(conditions.get("team_ids", [])):
        await _named(access_team(session, tenant_id, team_id), f"conditions.team_ids[{index}]")
    await check_escalation_references(session, tenant_id, checked["escalation"])


def matches(policy: SlaPolicy, facts: PolicyFacts) -> bool:
    """Return whether a policy's conditions accept a ticket (ignoring `enabled`)."""
    conditions = policy.conditions
    if "priorities" in conditions and facts.priority not in conditions["priorities"]:
        return False
    if "category_ids" in conditions and facts.category_id not in conditions["category_ids"]:
        return False
    if "team_ids" in conditions and facts.team_id not in conditions["team_ids"]:
        return False
    if "customers" in conditions:
        domain = facts.requester_email.rpartition("@")[2]
        accepted = conditions["customers"]
        return facts.requester_email in accepted or domain in accepted
    return True


def first_match(policies: Sequence[SlaPolicy], facts: PolicyFacts) -> SlaPolicy | None:
    """Return the first enabled policy, in order, that accepts the ticket."""
    for policy in policies:
        if policy.enabled and matches(policy, facts):
            return policy
    return None


def shadowing_policy(policies: Sequence[SlaPolicy], policy: SlaPolicy) -> int | None:
    """Return the id of an earlier enabled policy that accepts every ticket `policy`
    accepts, which makes `policy` unreachable, or None."""
    for earlier in policies:
        if earlier.id == policy.id:
            return None
        if earlier.enabled and _covers(earlier.conditions, policy.conditions):
            return earlier.id
    return None


def target_minutes(policy: SlaPolicy, kind: TargetKind) -> int | None:
    value: int | None = getattr(policy, TARGET_FIELDS[kind])
    return value


# Built once, because every new ticket runs it.
_POLICIES = (select(SlaPolicy).where(SlaPolicy.tenant_id == bindparam("tenant_id"))
             .order_by(col(SlaPolicy.position), col(SlaPolicy.id)))


async def list_policies(session: AsyncSession, tenant_id: int) -> list[SlaPolicy]:
    """Return the tenant's policies in evaluation order."""
    return list((await session.exec(_POLICIES, params={"tenant_id": tenant_id})).all())


async def policies_to_match(session: AsyncSession, tenant_id: int) -> tuple[SlaPolicy, ...]:
    """Return the tenant's policies in evaluation order for matching tickets, from the
    configuration cache while the tenant's policies did not change.

    They are copies that belong to no session and are shared by every transaction of
    this process: read them, never change them or add them to a session."""
    return await cached_config(session, tenant_id, "ticketcloud.sla_policies", _copies,
                               tables=_POLICY_TABLES)


_POLICY_TABLES = (SlaPolicy,)


async def _copies(session: AsyncSession, tenant_id: int) -> tuple[SlaPolicy, ...]:
    return tuple(SlaPolicy.model_validate(policy.model_dump())
                 for policy in await list_policies(session, tenant_id))


async def access_policy(session: AsyncSession, tenant_id: int, policy_id: object) -> SlaPolicy:
    row_id = check_id(policy_id, field="policy_id")
    try:
        return await access_row(session, SlaPolicy, tenant_id, row_id)
    except NotFound:
        raise NotFound(f"SLA policy {row_id} not found.", field="policy_id") from None


async def do_create_policy(session: AsyncSession, tenant_id: int,
                           data: Mapping[str, object]) -> SlaPolicy:
    """Validate `data` and add it as the tenant's last policy."""
    checked = check_policy(data)
    await check_policy_references(session, tenant_id, checked)
    policies = await list_policies(session, tenant_id)
    if len(policies) >= MAX_POLICIES:
        raise InvalidInput(f"This workspace has {len(policies)} SLA policies, the maximum; "
                           "delete one first.", field="policy")
    policy = SlaPolicy(tenant_id=tenant_id, position=len(policies), **checked)
    session.add(policy)
    await session.flush()
    logger.info("Created SLA policy %s at position %s in tenant %s", policy.id,
                policy.position, tenant_id)
    return policy


async def do_update_policy(session: AsyncSession, tenant_id: int, policy_id: object,
                           data: Mapping[str, object]) -> SlaPolicy:
    """Replace a policy's definition; its position stays. Tickets keep their targets
    until a change of the ticket recomputes them."""
    policy = await access_policy(session, tenant_id, policy_id)
    checked = check_policy(data)
    await check_policy_references(session, tenant_id, checked)
    for name, value in checked.items():
        setattr(policy, name, value)
    policy.updated_at = utcnow()
    session.add(policy)
    await session.flush()
    logger.info("Updated SLA policy %s in tenant %s", policy.id, tenant_id)
    return policy


async def do_delete_policy(session: AsyncSession, tenant_id: int, policy_id: object) -> None:
    policy = await access_policy(session, tenant_id, policy_id)
    await session.delete(policy)
    await session.flush()
    await _renumber(session, [item for item in await list_policies(session, tenant_id)
                              if item.id != policy.id])
    logger.info("Deleted SLA policy %s in tenant %s", policy.id, tenant_id)


async def do_move_policy(session: AsyncSession, tenant_id: int, policy_id: object,
                         position: object) -> list[SlaPolicy]:
    """Move a policy to `position` (0 is evaluated first); return the policies in order."""
    policy = await access_policy(session, tenant_id, policy_id)
    policies = [item for item in await list_policies(session, tenant_id)
                if item.id != policy.id]
    if isinstance(position, bool) or not isinstance(position, int) or not (
            0 <= position <= len(policies)):
        raise InvalidInput(f"Invalid position {position!r}: use 0 to {len(policies)}.",
                           field="position")
    policies.insert(position, policy)
    await _renumber(session, policies)
    return policies


def policy_json(policy: SlaPolicy, policies: Sequence[SlaPolicy]) -> dict[str, Any]:
    return {"id": policy.id, "position": policy.position, "name": policy.name,
            "enabled": policy.enabled, "conditions": policy.conditions,
            "calendar_id": policy.calendar_id,
            **{name: getattr(policy, name) for name in TARGET_FIELDS.values()},
            "warning_percent": policy.warning_percent, "escalation": policy.escalation,
            "shadowed_by": shadowing_policy(policies, policy)}


def _covers(earlier: Mapping[str, list[Any]], later: Mapping[str, list[Any]]) -> bool:
    """Return whether conditions `earlier` accept every ticket that `later` accepts."""
    for name, accepted in earlier.items():
        if name not in later:
            return False
        if name == "customers":
            # An address is covered by itself or its domain; a domain only by itself.
            if not all(value in accepted or value.rpartition("@")[2] in accepted
                       for value in later[name] if "@" in value):
                return False
            if not all(value in accepted for value in later[name] if "@" not in value):
                return False
        elif not set(later[name]) <= set(accepted):
            return False
    return True


def _check_value(name: str, value: object, where: str) -> Any:
    if name == "priorities":
        if not isinstance(value, str) or value not in {item.value for item in Priority}:
            raise InvalidInput(f"Invalid priority {value!r}: choose from "
                               f"{', '.join(item.value for item in Priority)}.", field=where)
        return value
    if name == "customers":
        text = value.strip().lower() if isinstance(value, str) else ""
        domain = text.rpartition("@")[2]
        valid = (EMAIL_PATTERN.match(text) if "@" in text
                 else "." in domain and EMAIL_PATTERN.match(f"x@{domain}"))
        if not valid:
            raise InvalidInput(f"Invalid customer {value!r}: use an email address or a "
                               "domain such as 'example.com'.", field=where)
        return text
    return check_id(value, field=where)


def _check_int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"Invalid {field} {value!r}: use a whole number from {low} to "
                           f"{high}.", field=field)
    return value


def _check_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"Invalid {field} {value!r}: use true or false.", field=field)
    return value


async def _named(loading: Any, field: str) -> None:
    try:
        await loading
    except NotFound as error:
        raise NotFound(error.message, field=field) from None


async def _renumber(session: AsyncSession, policies: list[SlaPolicy]) -> None:
    for position, policy in enumerate(policies):
        if policy.position != position:
            policy.position = position
            session.add(policy)
    await session.flush()
