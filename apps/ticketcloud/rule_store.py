"""Loading and saving a tenant's assignment rules, kept in order by `position`."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import InvalidInput, NotFound, access_row, cached_config, utcnow
from ticketcloud.categories import access_category
from ticketcloud.checks import check_id
from ticketcloud.models import Rule
from ticketcloud.rules import ActionType, RuleDefinition, check_rule
from ticketcloud.teams import access_agent, access_team

logger = logging.getLogger(__name__)

MAX_RULES = 200


def definition_of(rule: Rule) -> RuleDefinition:
    """Return a stored rule as a RuleDefinition, validating it again."""
    definition = check_rule({"name": rule.name, "enabled": rule.enabled,
                             "match": rule.match.value, "conditions": rule.conditions,
                             "actions": rule.actions})
    return RuleDefinition(name=definition.name, match=definition.match,
                          conditions=definition.conditions, actions=definition.actions,
                          enabled=definition.enabled, id=rule.id, position=rule.position)


# Built once, because every new ticket runs it.
_RULES = (select(Rule).where(Rule.tenant_id == bindparam("tenant_id"))
          .order_by(col(Rule.position), col(Rule.id)))


async def list_rules(session: AsyncSession, tenant_id: int) -> list[Rule]:
    """Return the tenant's rules in evaluation order."""
    return list((await session.exec(_RULES, params={"tenant_id": tenant_id})).all())


async def load_rules(session: AsyncSession, tenant_id: int) -> tuple[RuleDefinition, ...]:
    """Return the tenant's enabled rules in order for `rules.evaluate`, from the
    configuration cache while the tenant's rules did not change. A stored rule that no
    longer validates is left out and logged when the rules are loaded."""
    return await cached_config(session, tenant_id, "ticketcloud.rules", _load_rules,
                               tables=_RULE_TABLES)


_RULE_TABLES = (Rule,)


async def _load_rules(session: AsyncSession, tenant_id: int) -> tuple[RuleDefinition, ...]:
    definitions = []
    for rule in await list_rules(session, tenant_id):
        if not rule.enabled:
            continue
        try:
            definitions.append(definition_of(rule))
        except InvalidInput as error:
            logger.error("Rule %s of tenant %s is invalid and was skipped: %s", rule.id,
                         tenant_id, error.message)
    return tuple(definitions)


async def access_rule(session: AsyncSession, tenant_id: int, rule_id: object) -> Rule:
    return await access_row(session, Rule, tenant_id, check_id(rule_id, field="rule_id"))


async def do_create_rule(session: AsyncSession, tenant_id: int,
                         data: Mapping[str, object]) -> Rule:
    """Validate `data` (see rules.check_rule) and add it as the tenant's last rule."""
    definition = check_rule(data)
    await check_rule_targets(session, tenant_id, definition)
    rules = await list_rules(session, tenant_id)
    if len(rules) >= MAX_RULES:
        raise InvalidInput(f"This workspace has {len(rules)} rules, the maximum; delete one "
                           "before adding another.", field="rule")
    rule = Rule(tenant_id=tenant_id, position=len(rules), name=definition.name)
    _fill(rule, definition)
    session.add(rule)
    await session.flush()
    logger.info("Created rule %s at position %s in tenant %s", rule.id, rule.position,
                tenant_id)
    return rule


async def do_update_rule(session: AsyncSession, tenant_id: int, rule_id: object,
                         data: Mapping[str, object]) -> Rule:
    """Replace a rule's definition; its position stays."""
    rule = await access_rule(session, tenant_id, rule_id)
    definition = check_rule(data)
    await check_rule_targets(session, tenant_id, definition)
    _fill(rule, definition)
    session.add(rule)
    await session.flush()
    logger.info("Updated rule %s in tenant %s", rule.id, tenant_id)
    return rule


async def do_delete_rule(session: AsyncSession, tenant_id: int, rule_id: object) -> None:
    rule = await access_rule(session, tenant_id, rule_id)
    await session.delete(rule)
    await session.flush()
    await _renumber(session, [item for item in await list_rules(session, tenant_id)
                              if item.id != rule.id])
    logger.info("Deleted rule %s in tenant %s", rule.id, tenant_id)


async def do_move_rule(session: AsyncSession, tenant_id: int, rule_id: object,
                       position: object) -> list[Rule]:
    """Move a rule to `position` (0 is evaluated first); return the rules in order."""
    rule = await access_rule(session, tenant_id, rule_id)
    rules = [item for item in await list_rules(session, tenant_id) if item.id != rule.id]
    if isinstance(position, bool) or not isinstance(position, int) or not (
            0 <= position <= len(rules)):
        raise InvalidInput(f"Invalid position {position!r}: use 0 to {len(rules)}.",
                           field="position")
    rules.insert(position, rule)
    await _renumber(session, rules)
    return rules


async def check_rule_targets(session: AsyncSession, tenant_id: int,
                             definition: RuleDefinition) -> None:
    """Raise NotFound when an action names a team, category or agent that the tenant does
    not have, and InvalidInput when the assignee is not an active agent."""
    for index, action in enumerate(definition.actions):
        where = f"actions[{index}].value"
        try:
            if action.type is ActionType.SET_TEAM:
                await access_team(session, tenant_id, action.value)
            elif action.type is ActionType.SET_CATEGORY:
                await access_category(session, tenant_id, action.value)
            elif action.type is ActionType.SET_ASSIGNEE:
                await access_agent(session, tenant_id, action.value, field=where)
        except NotFound as error:
            # access_row names no field, so the caller could not tell which action failed.
            raise NotFound(error.message, field=where) from None


def _fill(rule: Rule, definition: RuleDefinition) -> None:
    rule.name = definition.name
    rule.enabled = definition.enabled
    rule.match = definition.match
    rule.conditions = [condition.as_json() for condition in definition.conditions]
    rule.actions = [action.as_json() for action in definition.actions]
    rule.updated_at = utcnow()


async def _renumber(session: AsyncSession, rules: list[Rule]) -> None:
    for position, rule in enumerate(rules):
        if rule.position != position:
            rule.position = position
            session.add(rule)
    await session.flush()
