"""The rule engine: ordered admin rules that set a new ticket's category, priority, team,
assignee and tags. Everything here is pure; `rule_store` loads and saves rules.

A rule is stored as JSON of this shape, which `check_rule` validates:

    {"name": "Billing words", "enabled": true, "match": "any",
     "conditions": [{"field": "subject", "operator": "contains", "value": "invoice"},
                    {"field": "channel", "operator": "in", "value": ["web", "email"]}],
     "actions": [{"type": "set_team", "value": 3}, {"type": "add_tags", "value": ["billing"]},
                 {"type": "stop"}]}

Text comparisons ignore case. Conditions see the ticket as submitted: an earlier rule's
actions do not change what a later rule's conditions see. Later rules override the
values earlier rules set, tags add up, and `stop` ends the evaluation after its rule.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

from portal.sdk import InvalidInput
from ticketcloud.checks import (
    check_choice,
    check_email,
    check_id,
    check_label,
    check_tags,
    merge_tags,
)
from ticketcloud.models import Channel, MatchMode, Priority

logger = logging.getLogger(__name__)

MAX_CONDITIONS = 20
MAX_ACTIONS = 10
MAX_VALUE = 500
MAX_CHOICES = 100
MAX_PATTERN = 500
MAX_FACT = 50_000
# Seconds one regex search may take. A pattern with catastrophic backtracking on a long
# body would otherwise hold the event loop.
REGEX_TIMEOUT = 0.05


class ConditionField(enum.StrEnum):
    SUBJECT = "subject"
    BODY = "body"
    SENDER_EMAIL = "sender_email"
    SENDER_DOMAIN = "sender_domain"
    CHANNEL = "channel"
    PRIORITY = "priority"
    CATEGORY = "category"  # the category's name
    CUSTOMER = "customer"  # the requester's email address


class Operator(enum.StrEnum):
    CONTAINS = "contains"
    EQUALS = "equals"
    REGEX = "regex"
    IN = "in"
    NOT_CONTAINS = "not_contains"
    NOT_EQUALS = "not_equals"
    NOT_REGEX = "not_regex"
    NOT_IN = "not_in"

    @property
    def negated(self) -> bool:
        return self.value.startswith("not_")

    @property
    def positive(self) -> Operator:
        return Operator(self.value.removeprefix("not_"))


class ActionType(enum.StrEnum):
    SET_CATEGORY = "set_category"
    SET_PRIORITY = "set_priority"
    SET_TEAM = "set_team"
    SET_ASSIGNEE = "set_assignee"
    ADD_TAGS = "add_tags"
    STOP = "stop"


# Fields with a closed set of values take only these operators, and their values are
# checked against the set.
_CHOICE_FIELDS: Mapping[ConditionField, type[enum.StrEnum]] = {
    ConditionField.CHANNEL: Channel, ConditionField.PRIORITY: Priority}
_CHOICE_OPERATORS = frozenset({Operator.EQUALS, Operator.NOT_EQUALS, Operator.IN,
                               Operator.NOT_IN})
_ID_ACTIONS = frozenset({ActionType.SET_CATEGORY, ActionType.SET_TEAM, ActionType.SET_ASSIGNEE})


@dataclass(frozen=True)
class Condition:
    field: ConditionField
    operator: Operator
    # A tuple of choices for `in` and `not_in`, else one string.
    value: str | tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"field": self.field.value, "operator": self.operator.value, "value": value}


@dataclass(frozen=True)
class Action:
    type: ActionType
    # An id for set_category, set_team and set_assignee, a Priority value for
    # set_priority, a tuple of tags for add_tags, and None for stop.
    value: int | str | tuple[str, ...] | None = None

    def as_json(self) -> dict[str, Any]:
        if self.value is None:
            return {"type": self.type.value}
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"type": self.type.value, "value": value}


@dataclass(frozen=True)
class RuleDefinition:
    """A validated rule. `id` and `position` are set for stored rules."""

    name: str
    match: MatchMode
    conditions: tuple[Condition, ...]
    actions: tuple[Action, ...]
    enabled: bool = True
    id: int | None = None
    position: int = 0


@dataclass(frozen=True)
class TicketFacts:
    """The facts of a ticket as submitted, which rule conditions compare against."""

    subject: str
    body: str
    sender_email: str
    channel: Channel
    priority: Priority = Priority.NORMAL
    category: str = ""
    customer: str = ""

    @property
    def sender_domain(self) -> str:
        return self.sender_email.rpartition("@")[2]

    def text(self, condition_field: ConditionField) -> str:
        if condition_field is ConditionField.SENDER_DOMAIN:
            return self.sender_domain
        value = getattr(self, condition_field.value)
        return str(value)


@dataclass(frozen=True)
class Decision:
    """A rule that fired and the actions it takes."""

    rule_id: int | None
    rule_name: str
    actions: tuple[Action, ...]


@dataclass
class RuleOutcome:
    """The values all fired rules set together; None means no rule set that field."""

    category_id: int | None = None
    priority: Priority | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    tags: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"category_id": self.category_id,
                "priority": self.priority.value if self.priority else None,
                "team_id": self.team_id, "assignee_id": self.assignee_id, "tags": self.tags}


@dataclass(frozen=True)
class DryRun:
    decisions: list[Decision]
    outcome: RuleOutcome

    def as_json(self) -> dict[str, Any]:
        return {
            "fired": [{"rule_id": decision.rule_id, "name": decision.rule_name,
                       "actions": [action.as_json() for action in decision.actions]}
                      for decision in self.decisions],
            "result": self.outcome.as_json(),
        }


def check_rule(data: Mapping[str, object]) -> RuleDefinition:
    """Validate a rule definition as an admin saves it.

    InvalidInput names the offending part, such as `conditions[1].value`, and why. For an
    invalid regex, the reason is the regex module's.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput(f"A rule must be a JSON object, not {data!r}.", field="rule")
    _reject_unknown_keys(data, {"name", "enabled", "match", "conditions", "actions"}, "rule")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise InvalidInput(f"'enabled' must be true or false, not {enabled!r}.",
                           field="enabled")
    conditions = _check_list(data.get("conditions"), "conditions", MAX_CONDITIONS)
    actions = _check_list(data.get("actions"), "actions", MAX_ACTIONS)
    return RuleDefinition(
        name=check_label(data.get("name"), field="name"),
        match=check_choice(MatchMode, data.get("match", MatchMode.ALL.value), field="match"),
        conditions=tuple(_check_condition(item, f"conditions[{index}]")
                         for index, item in enumerate(conditions)),
        actions=_check_actions(actions),
        enabled=enabled,
    )


def check_facts(sample: Mapping[str, object]) -> TicketFacts:
    """Validate a sample ticket for a dry run.

    `subject`, `body` and `sender_email` are required. `channel` (default web),
    `priority` (normal), `category` ("") and `customer` (the sender) are optional.
    """
    if not isinstance(sample, Mapping):
        raise InvalidInput(f"A sample ticket must be a JSON object, not {sample!r}.",
                           field="sample")
    _reject_unknown_keys(sample, {"subject", "body", "sender_email", "channel", "priority",
                                  "category", "customer"}, "sample")
    sender = check_email(sample.get("sender_email"), field="sender_email")
    return TicketFacts(
        subject=_fact_text(sample.get("subject", ""), "subject"),
        body=_fact_text(sample.get("body", ""), "body"),
        sender_email=sender,
        channel=check_choice(Channel, sample.get("channel", Channel.WEB.value), field="channel"),
        priority=check_choice(Priority, sample.get("priority", Priority.NORMAL.value),
                              field="priority"),
        category=_fact_text(sample.get("category", ""), "category"),
        customer=check_email(sample.get("customer", sender), field="customer"),
    )


def evaluate(rules: Iterable[RuleDefinition], facts: TicketFacts) -> list[Decision]:
    """Return the decisions of the enabled rules whose conditions match `facts`, in the
    order given, up to and including the first fired rule with a `stop` action."""
    decisions = []
    for rule in rules:
        if not rule.enabled or not _matches(rule, facts):
            continue
        decisions.append(Decision(rule_id=rule.id, rule_name=rule.name, actions=rule.actions))
        if any(action.type is ActionType.STOP for action in rule.actions):
            break
    return decisions


def combine(decisions: Sequence[Decision]) -> RuleOutcome:
    """Return what the decisions set together: later values win, tags add up."""
    outcome = RuleOutcome()
    for decision in decisions:
        for action in decision.actions:
            if action.type is ActionType.SET_CATEGORY:
                outcome.category_id = _int(action.value)
            elif action.type is ActionType.SET_PRIORITY:
                outcome.priority = Priority(str(action.value))
            elif action.type is ActionType.SET_TEAM:
                outcome.team_id = _int(action.value)
            elif action.type is ActionType.SET_ASSIGNEE:
                outcome.assignee_id = _int(action.value)
            elif action.type is ActionType.ADD_TAGS:
                outcome.tags = merge_tags(outcome.tags, _tags(action.value))
    return outcome


def dry_run(rules: Iterable[RuleDefinition], sample: Mapping[str, object]) -> DryRun:
    """Validate `sample` (see check_facts) and return which rules fire on it and what
    they would set, without touching any ticket."""
    decisions = evaluate(rules, check_facts(sample))
    return DryRun(decisions=decisions, outcome=combine(decisions))


def _matches(rule: RuleDefinition, facts: TicketFacts) -> bool:
    results = (_condition_holds(rule, condition, facts) for condition in rule.conditions)
    return all(results) if rule.match is MatchMode.ALL else any(results)


def _condition_holds(rule: RuleDefinition, condition: Condition, facts: TicketFacts) -> bool:
    text = facts.text(condition.field)
    operator = condition.operator.positive
    if operator is Operator.REGEX:
        found = _regex_search(rule, condition, text)
        if found is None:
            return False
        return found != condition.operator.negated
    if operator is Operator.IN:
        assert isinstance(condition.value, tuple)
        found = text.casefold() in {choice.casefold() for choice in condition.value}
    elif operator is Operator.EQUALS:
        found = text.casefold() == str(condition.value).casefold()
    else:
        found = str(condition.value).casefold() in text.casefold()
    return found != condition.operator.negated


def _regex_search(rule: RuleDefinition, condition: Condition, text: str) -> bool | None:
    """Return whether the condition's regex occurs in `text`, or None when the search
    timed out or the stored pattern is invalid.

    NOTE: None makes the condition false for `regex` and `not_regex` alike, so that a rule
    never fires on text it could not check.
    """
    started = time.monotonic()
    try:
        return regex.search(str(condition.value), text, flags=regex.IGNORECASE,
                            timeout=REGEX_TIMEOUT) is not None
    except TimeoutError:
        logger.warning("Rule %s (%r): regex on %s timed out after %.0f ms on %s characters; "
                       "the condition counts as not matched", rule.id, rule.name,
                       condition.field.value, (time.monotonic() - started) * 1000, len(text))
    except regex.error as error:
        logger.error("Rule %s (%r): stored regex on %s is invalid (%s); the condition counts "
                     "as not matched", rule.id, rule.name, condition.field.value, error)
    return None


def _check_condition(item: object, where: str) -> Condition:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} must be an object with field, operator and value, not "
                           f"{item!r}.", field=where)
    _reject_unknown_keys(item, {"field", "operator", "value"}, where)
    condition_field = check_choice(ConditionField, item.get("field"), field=f"{where}.field")
    operator = check_choice(Operator, item.get("operator"), field=f"{where}.operator")
    choices = _CHOICE_FIELDS.get(condition_field)
    if choices is not None and operator not in _CHOICE_OPERATORS:
        allowed = ", ".join(sorted(op.value for op in _CHOICE_OPERATORS))
        raise InvalidInput(f"{where}: the field {condition_field.value} takes the operators "
                           f"{allowed}, not {operator.value}.", field=f"{where}.operator")

    value: str | tuple[str, ...]
    if operator.positive is Operator.IN:
        value = _check_choices(item.get("value"), f"{where}.value")
    else:
        value = _check_value(item.get("value"), f"{where}.value")
    if choices is not None:
        for choice in value if isinstance(value, tuple) else (value,):
            check_choice(choices, choice.lower(), field=f"{where}.value")
    if operator.positive is Operator.REGEX:
        _check_pattern(str(value), f"{where}.value")
    return Condition(field=condition_field, operator=operator, value=value)


def _check_value(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{where} must be non-empty text, not {value!r}.", field=where)
    if len(value) > MAX_VALUE:
        raise InvalidInput(f"{where} is {len(value)} characters; the maximum is {MAX_VALUE}.",
                           field=where)
    return value


def _check_choices(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidInput(f"{where} must be a non-empty list of texts for in and not_in, "
                           f"not {value!r}.", field=where)
    if len(value) > MAX_CHOICES:
        raise InvalidInput(f"{where} lists {len(value)} values; the maximum is {MAX_CHOICES}.",
                           field=where)
    return tuple(_check_value(choice, where) for choice in value)


def _check_pattern(pattern: str, where: str) -> None:
    if len(pattern) > MAX_PATTERN:
        raise InvalidInput(f"{where}: the regex is {len(pattern)} characters; the maximum is "
                           f"{MAX_PATTERN}.", field=where)
    try:
        regex.compile(pattern, flags=regex.IGNORECASE)
    except regex.error as error:
        raise InvalidInput(f"{where}: invalid regex {pattern!r}: {error}.", field=where) from None


def _check_actions(items: list[object]) -> tuple[Action, ...]:
    actions: list[Action] = []
    for index, item in enumerate(items):
        where = f"actions[{index}]"
        action = _check_action(item, where)
        if any(existing.type is action.type for existing in actions):
            raise InvalidInput(f"{where}: the action {action.type.value} appears twice; keep "
                               "one.", field=where)
        actions.append(action)
    if all(action.type is ActionType.STOP for action in actions):
        raise InvalidInput("A rule needs at least one action other than stop.",
                           field="actions")
    return tuple(actions)


def _check_action(item: object, where: str) -> Action:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} must be an object with type and value, not {item!r}.",
                           field=where)
    _reject_unknown_keys(item, {"type", "value"}, where)
    action_type = check_choice(ActionType, item.get("type"), field=f"{where}.type")
    value = item.get("value")
    if action_type in _ID_ACTIONS:
        return Action(action_type, check_id(value, field=f"{where}.value"))
    if action_type is ActionType.SET_PRIORITY:
        return Action(action_type, check_choice(Priority, value, field=f"{where}.value").value)
    if action_type is ActionType.ADD_TAGS:
        tags = check_tags(value, field=f"{where}.value")
        if not tags:
            raise InvalidInput(f"{where}.value lists no tags; add at least one.",
                               field=f"{where}.value")
        return Action(action_type, tuple(tags))
    if value is not None:
        raise InvalidInput(f"{where}: stop takes no value, got {value!r}.",
                           field=f"{where}.value")
    return Action(action_type)


def _check_list(value: object, name: str, maximum: int) -> list[object]:
    if not isinstance(value, list | tuple) or not value:
        raise InvalidInput(f"A rule needs a non-empty list of {name}, not {value!r}.",
                           field=name)
    if len(value) > maximum:
        raise InvalidInput(f"A rule has {len(value)} {name}; the maximum is {maximum}.",
                           field=name)
    return list(value)


def _reject_unknown_keys(data: Mapping[Any, object], known: set[str], where: str) -> None:
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        raise InvalidInput(f"{where} has unknown keys {unknown}; the known keys are "
                           f"{sorted(known)}.", field=where)


def _fact_text(value: object, name: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_FACT:
        raise InvalidInput(f"The sample's {name} must be text of at most {MAX_FACT:,} "
                           "characters.", field=name)
    return value


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _tags(value: object) -> tuple[str, ...]:
    assert isinstance(value, tuple)
    return value
