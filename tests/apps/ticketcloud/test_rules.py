"""The rule engine: validation of rule definitions, matching, and the dry run."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from portal.sdk import InvalidInput
from ticketcloud.models import Channel, MatchMode, Priority
from ticketcloud.rules import (
    MAX_PATTERN,
    Action,
    ActionType,
    RuleDefinition,
    TicketFacts,
    check_facts,
    check_rule,
    combine,
    dry_run,
    evaluate,
)

FACTS = TicketFacts(
    subject="Refund for INVOICE 1234", body="I was charged twice.\nPlease help.",
    sender_email="pat@billing.example.com", channel=Channel.EMAIL, priority=Priority.HIGH,
    category="Billing", customer="pat@billing.example.com",
)


def rule(conditions: list[dict[str, Any]], *, match: str = "all", name: str = "Test rule",
         actions: list[dict[str, Any]] | None = None, enabled: bool = True,
         rule_id: int = 1) -> RuleDefinition:
    definition = check_rule({
        "name": name, "match": match, "enabled": enabled, "conditions": conditions,
        "actions": actions or [{"type": "add_tags", "value": ["matched"]}],
    })
    return RuleDefinition(name=definition.name, match=definition.match,
                          conditions=definition.conditions, actions=definition.actions,
                          enabled=definition.enabled, id=rule_id)


def fires(condition: dict[str, Any], facts: TicketFacts = FACTS) -> bool:
    return bool(evaluate([rule([condition])], facts))


def invalid_reason(data: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as raised:
        check_rule(data)
    return raised.value


def valid_rule(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Billing words",
        "conditions": [{"field": "subject", "operator": "contains", "value": "invoice"}],
        "actions": [{"type": "set_team", "value": 3}],
    }
    data.update(overrides)
    return data


OPERATOR_CASES = [
    # (field, operator, value, expected)
    ("subject", "contains", "invoice", True),
    ("subject", "contains", "receipt", False),
    ("subject", "not_contains", "receipt", True),
    ("subject", "not_contains", "invoice", False),
    ("subject", "equals", "refund for invoice 1234", True),
    ("subject", "equals", "refund", False),
    ("subject", "not_equals", "refund", True),
    ("subject", "not_equals", "REFUND FOR invoice 1234", False),
    ("subject", "regex", r"invoice\s+\d{4}", True),
    ("subject", "regex", r"^invoice", False),
    ("subject", "not_regex", r"^invoice", True),
    ("subject", "not_regex", r"invoice \d+", False),
    ("customer", "in", ["someone@else.example", "PAT@billing.example.com"], True),
    ("customer", "in", ["someone@else.example"], False),
    ("customer", "not_in", ["someone@else.example"], True),
    ("customer", "not_in", ["pat@billing.example.com"], False),
    ("body", "contains", "CHARGED TWICE", True),
    ("body", "regex", r"charged\s+twice\.\s", True),
    ("sender_email", "equals", "pat@billing.example.com", True),
    ("sender_domain", "equals", "billing.example.com", True),
    ("sender_domain", "in", ["example.com"], False),
    ("sender_domain", "contains", "example.com", True),
    ("category", "equals", "billing", True),
    ("category", "not_equals", "Technical", True),
    ("channel", "equals", "email", True),
    ("channel", "in", ["web", "api"], False),
    ("channel", "not_in", ["web", "api"], True),
    ("priority", "equals", "high", True),
    ("priority", "not_equals", "high", False),
    ("priority", "in", ["urgent", "high"], True),
]


@pytest.mark.parametrize(("field", "operator", "value", "expected"), OPERATOR_CASES)
def test_evaluate_operator(field: str, operator: str, value: Any, expected: bool) -> None:
    assert fires({"field": field, "operator": operator, "value": value}) is expected


def test_evaluate_every_operator_covered() -> None:
    operators = {operator for _, operator, _, _ in OPERATOR_CASES}

    assert operators == {"contains", "equals", "regex", "in", "not_contains", "not_equals",
                         "not_regex", "not_in"}


def test_evaluate_match_all_needs_every_condition() -> None:
    conditions = [{"field": "subject", "operator": "contains", "value": "refund"},
                  {"field": "channel", "operator": "equals", "value": "web"}]

    assert evaluate([rule(conditions, match="all")], FACTS) == []
    assert len(evaluate([rule(conditions, match="any")], FACTS)) == 1


def test_evaluate_match_any_needs_one_condition() -> None:
    conditions = [{"field": "subject", "operator": "contains", "value": "nothing"},
                  {"field": "channel", "operator": "equals", "value": "web"}]

    assert evaluate([rule(conditions, match="any")], FACTS) == []


def test_evaluate_returns_decisions_in_order() -> None:
    matching = [{"field": "subject", "operator": "contains", "value": "refund"}]
    rules = [rule(matching, name="First", rule_id=1),
             rule([{"field": "subject", "operator": "contains", "value": "x-ray"}],
                  name="Misses", rule_id=2),
             rule(matching, name="Third", rule_id=3)]

    decisions = evaluate(rules, FACTS)

    assert [(decision.rule_id, decision.rule_name) for decision in decisions] == [
        (1, "First"), (3, "Third")]


def test_evaluate_stop_ends_evaluation() -> None:
    matching = [{"field": "subject", "operator": "contains", "value": "refund"}]
    rules = [rule(matching, name="Stops", rule_id=1,
                  actions=[{"type": "set_team", "value": 5}, {"type": "stop"}]),
             rule(matching, name="Never reached", rule_id=2)]

    assert [decision.rule_id for decision in evaluate(rules, FACTS)] == [1]


def test_evaluate_stop_of_unmatched_rule_ignored() -> None:
    rules = [rule([{"field": "subject", "operator": "contains", "value": "x-ray"}],
                  rule_id=1, actions=[{"type": "set_team", "value": 5}, {"type": "stop"}]),
             rule([{"field": "subject", "operator": "contains", "value": "refund"}],
                  rule_id=2)]

    assert [decision.rule_id for decision in evaluate(rules, FACTS)] == [2]


def test_evaluate_skips_disabled_rule() -> None:
    matching = [{"field": "subject", "operator": "contains", "value": "refund"}]

    assert evaluate([rule(matching, enabled=False)], FACTS) == []


def test_evaluate_regex_timeout_counts_as_no_match(caplog: pytest.LogCaptureFixture) -> None:
    facts = TicketFacts(subject="a" * 40 + "!", body="", sender_email="pat@example.com",
                        channel=Channel.WEB)
    slow = rule([{"field": "subject", "operator": "regex", "value": "(a|aa)+$"}], rule_id=41)
    negated = rule([{"field": "subject", "operator": "not_regex", "value": "(a|aa)+$"}],
                   rule_id=42)

    with caplog.at_level(logging.WARNING, logger="ticketcloud.rules"):
        decisions = evaluate([slow, negated], facts)

    assert decisions == []
    timed_out = [record.getMessage() for record in caplog.records
                 if "timed out" in record.getMessage()]
    assert [message.split(" ")[1] for message in timed_out] == ["41", "42"]


def test_combine_later_rules_override_and_tags_add_up() -> None:
    matching = [{"field": "subject", "operator": "contains", "value": "refund"}]
    rules = [
        rule(matching, rule_id=1, actions=[
            {"type": "set_team", "value": 1}, {"type": "set_priority", "value": "low"},
            {"type": "add_tags", "value": ["billing", "refund"]}]),
        rule(matching, rule_id=2, actions=[
            {"type": "set_team", "value": 2}, {"type": "set_category", "value": 7},
            {"type": "set_assignee", "value": 9},
            {"type": "add_tags", "value": ["refund", "vip"]}]),
    ]

    outcome = combine(evaluate(rules, FACTS))

    assert outcome.team_id == 2
    assert outcome.priority is Priority.LOW
    assert outcome.category_id == 7
    assert outcome.assignee_id == 9
    assert outcome.tags == ["billing", "refund", "vip"]


def test_dry_run_reports_fired_rules_and_result() -> None:
    rules = [
        rule([{"field": "body", "operator": "contains", "value": "invoice"}], name="Billing",
             rule_id=1, actions=[{"type": "set_team", "value": 4}]),
        rule([{"field": "body", "operator": "contains", "value": "crash"}], name="Technical",
             rule_id=2, actions=[{"type": "set_team", "value": 5}]),
    ]

    result = dry_run(rules, {"subject": "Question", "body": "Where is my invoice?",
                             "sender_email": "Pat@Example.com"}).as_json()

    assert result["fired"] == [{"rule_id": 1, "name": "Billing",
                                "actions": [{"type": "set_team", "value": 4}]}]
    assert result["result"] == {"category_id": None, "priority": None, "team_id": 4,
                                "assignee_id": None, "tags": []}


def test_dry_run_rejects_invalid_sample() -> None:
    with pytest.raises(InvalidInput) as raised:
        dry_run([], {"subject": "Hi", "body": "", "sender_email": "not an address"})

    assert raised.value.field == "sender_email"


def test_check_facts_defaults() -> None:
    facts = check_facts({"subject": "Hi", "body": "Text", "sender_email": "Pat@Example.com"})

    assert facts.channel is Channel.WEB
    assert facts.priority is Priority.NORMAL
    assert facts.customer == "pat@example.com"
    assert facts.sender_domain == "example.com"


def test_check_rule_round_trips_through_json() -> None:
    definition = check_rule(valid_rule(match="any", conditions=[
        {"field": "channel", "operator": "in", "value": ["web", "email"]},
        {"field": "subject", "operator": "regex", "value": r"\binvoice"}],
        actions=[{"type": "add_tags", "value": ["Billing"]}, {"type": "stop"}]))

    stored = {"name": definition.name, "match": definition.match.value,
              "conditions": [condition.as_json() for condition in definition.conditions],
              "actions": [action.as_json() for action in definition.actions]}

    assert check_rule(stored) == definition
    assert definition.match is MatchMode.ANY
    assert definition.actions == (Action(ActionType.ADD_TAGS, ("billing",)),
                                  Action(ActionType.STOP))


def test_check_rule_invalid_regex_gives_reason() -> None:
    error = invalid_reason(valid_rule(conditions=[
        {"field": "subject", "operator": "not_regex", "value": "(unclosed"}]))

    assert error.field == "conditions[0].value"
    assert "invalid regex '(unclosed'" in error.message
    assert "missing )" in error.message


def test_check_rule_regex_too_long() -> None:
    error = invalid_reason(valid_rule(conditions=[
        {"field": "body", "operator": "regex", "value": "a" * (MAX_PATTERN + 1)}]))

    assert error.field == "conditions[0].value"
    assert f"the maximum is {MAX_PATTERN}" in error.message


def test_check_rule_regex_at_maximum_length() -> None:
    check_rule(valid_rule(conditions=[
        {"field": "body", "operator": "regex", "value": "a" * MAX_PATTERN}]))


@pytest.mark.parametrize(("overrides", "field", "fragment"), [
    ({"name": " "}, "name", "non-empty"),
    ({"match": "most"}, "match", "choose one of all, any"),
    ({"conditions": []}, "conditions", "non-empty list of conditions"),
    ({"actions": []}, "actions", "non-empty list of actions"),
    ({"actions": [{"type": "stop"}]}, "actions", "other than stop"),
    ({"conditions": [{"field": "color", "operator": "equals", "value": "red"}]},
     "conditions[0].field", "'color'"),
    ({"conditions": [{"field": "subject", "operator": "like", "value": "x"}]},
     "conditions[0].operator", "'like'"),
    ({"conditions": [{"field": "subject", "operator": "contains", "value": ""}]},
     "conditions[0].value", "non-empty text"),
    ({"conditions": [{"field": "subject", "operator": "in", "value": "a, b"}]},
     "conditions[0].value", "non-empty list"),
    ({"conditions": [{"field": "priority", "operator": "equals", "value": "critical"}]},
     "conditions[0].value", "'critical'"),
    ({"conditions": [{"field": "channel", "operator": "contains", "value": "we"}]},
     "conditions[0].operator", "not contains"),
    ({"conditions": [{"field": "subject", "operator": "contains", "value": "x", "x": 1}]},
     "conditions[0]", "unknown keys ['x']"),
    ({"actions": [{"type": "set_team", "value": "Billing"}]},
     "actions[0].value", "positive integer"),
    ({"actions": [{"type": "set_team", "value": True}]}, "actions[0].value", "positive integer"),
    ({"actions": [{"type": "set_priority", "value": "asap"}]}, "actions[0].value", "'asap'"),
    ({"actions": [{"type": "add_tags", "value": ["two words"]}]}, "actions[0].value",
     "'two words'"),
    ({"actions": [{"type": "add_tags", "value": []}]}, "actions[0].value", "no tags"),
    ({"actions": [{"type": "stop", "value": 1}, {"type": "set_team", "value": 1}]},
     "actions[0].value", "stop takes no value"),
    ({"actions": [{"type": "set_team", "value": 1}, {"type": "set_team", "value": 2}]},
     "actions[1]", "appears twice"),
    ({"actions": [{"type": "close", "value": 1}]}, "actions[0].type", "'close'"),
    ({"enabled": "yes"}, "enabled", "true or false"),
    ({"owner": "me"}, "rule", "unknown keys ['owner']"),
])
def test_check_rule_rejects(overrides: dict[str, Any], field: str, fragment: str) -> None:
    error = invalid_reason(valid_rule(**overrides))

    assert error.field == field
    assert fragment in error.message
