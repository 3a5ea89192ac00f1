"""The synthetic mail corpus in tests/fixtures/mail/corpus/: the committed files equal a
fresh run of its generator, and every message parses to the facts in its sidecar
`.expected.json`. Outcomes that need the app (tickets, replies) are checked here only as
far as the parser decides them: automatic, bounce, over a limit."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from portal.mail.parse import MailLimitExceeded, ParsedMail, parse_mail

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "mail" / "corpus"
GENERATOR = CORPUS.parent / "generate_corpus.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_corpus", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve the module's annotations through sys.modules.
    sys.modules.setdefault("generate_corpus", module)
    spec.loader.exec_module(module)
    return module


generator = load_generator()
NAMES = sorted(path.name.removesuffix(".eml") for path in CORPUS.glob("*.eml"))


def expected_of(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPUS / f"{name}.expected.json").read_text("utf-8"))
    return data


def check_facts(mail: ParsedMail, expected: dict[str, Any]) -> None:
    """Assert every parsed fact that `expected` names, each in its own assert."""
    assert mail.subject == expected["subject"]
    assert (mail.from_.address if mail.from_ else None) == expected["from"]
    assert expected["text_contains"] in mail.text
    assert [item.filename for item in mail.attachments] == expected["attachments"]
    assert mail.is_automatic is expected["is_automatic"]
    assert bool(mail.defects) is expected["has_defects"], mail.defects
    assert (mail.bounce is not None) is (expected["outcome"] == "bounce")
    optional: dict[str, Callable[[], object]] = {
        "from_name": lambda: mail.from_.name if mail.from_ else None,
        "to": lambda: [item.address for item in mail.to],
        "message_id": lambda: mail.message_id,
        "in_reply_to": lambda: mail.in_reply_to,
        "references": lambda: list(mail.references),
        "visible": lambda: mail.text_visible,
        "out_of_office": lambda: mail.is_out_of_office,
        "inline": lambda: [item.filename for item in mail.attachments if item.inline],
        "bounce_recipients": lambda: [item.address for item in mail.bounce.recipients]
        if mail.bounce else None,
        "bounce_permanent": lambda: mail.bounce.is_permanent if mail.bounce else None,
        "bounce_original": lambda: mail.bounce.original_message_id if mail.bounce else None,
        "attachment_bytes": lambda: mail.attachments[-1].size,
    }
    for key, actual in optional.items():
        if key in expected:
            assert actual() == expected[key], key
    if "auto_reason" in expected:
        assert expected["auto_reason"] in mail.auto_reasons
    if "quoted_contains" in expected:
        assert expected["quoted_contains"] in mail.text_quoted
    if "signature_contains" in expected:
        assert expected["signature_contains"] in mail.signature
    if "html_contains" in expected:
        assert expected["html_contains"] in (mail.html or "")
    for fragment in expected.get("html_excludes", []):
        assert fragment not in (mail.html or "")


def test_corpus_matches_generator(tmp_path: Path) -> None:
    generator.write_corpus(tmp_path / "corpus")
    fresh = {path.name: path.read_bytes() for path in (tmp_path / "corpus").iterdir()}
    committed = {path.name: path.read_bytes() for path in CORPUS.iterdir()}

    assert sorted(committed) == sorted(fresh)
    changed = [name for name in fresh if committed.get(name) != fresh[name]]
    assert changed == []


def test_corpus_covers_every_outcome() -> None:
    outcomes = {expected_of(name)["outcome"] for name in NAMES}
    outcomes |= {case.expected["outcome"] for case in generator.large_cases()}

    assert outcomes == {"ticket", "ticket_unconfirmed", "participant_reply",
                        "automatic_noted", "ignored_automatic", "ignored_no_sender",
                        "bounce", "duplicate", "rejected"}


def test_corpus_end_to_end_outcomes_name_earlier_cases() -> None:
    cases = [*generator.committed_cases(), *generator.large_cases()]
    earlier: set[str] = set()
    kinds = set()
    for case in cases:
        kind, _, argument = case.expected["end_to_end"].partition(":")
        kinds.add(kind)
        if kind in ("reply_to", "participant_reply", "noted_on", "duplicate_of"):
            assert argument in earlier, case.name
        if kind == "bounce_marks":
            assert case.expected["on_ticket_of"] in earlier, case.name
        earlier.add(case.name)

    assert kinds == {"new_ticket", "no_autoreply", "reply_to", "participant_reply",
                     "noted_on", "bounce_marks", "duplicate_of", "ignored", "smtp_reject"}


@pytest.mark.parametrize("name", NAMES)
def test_corpus_message_parses_as_expected(name: str) -> None:
    expected = expected_of(name)
    mail = parse_mail((CORPUS / f"{name}.eml").read_bytes())

    check_facts(mail, expected)


def test_corpus_large_messages_parse_or_exceed_limit() -> None:
    for case in generator.large_cases():
        if case.expected["outcome"] == "rejected":
            with pytest.raises(MailLimitExceeded):
                parse_mail(case.raw)
        else:
            check_facts(parse_mail(case.raw), case.expected)
