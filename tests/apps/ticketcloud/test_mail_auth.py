"""Parsing Authentication-Results headers and verifying an agent's mail with them."""

from __future__ import annotations

import pytest

from portal.mail.parse import parse_mail
from portal.sdk import InvalidInput, ParsedMail
from tests.apps.ticketcloud.mail_samples import customer_mail
from ticketcloud.mail_auth import (
    check_authserv_id,
    check_sender,
    parse_authentication_results,
    unverified_note,
)

AGENT = "ada@acme.example"
TRUSTED = "mx.acme.example"


def mail_with(*results: str) -> ParsedMail:
    message = customer_mail(to="support@acme.example", sender=AGENT)
    for value in results:
        message["Authentication-Results"] = value
    return parse_mail(bytes(message))


def test_parse_results_with_comments_and_quotes() -> None:
    parsed = parse_authentication_results(
        'mx.acme.example (Postfix; "x") 1; dkim=pass (good signature; ok) '
        'header.d=Acme.Example header.i="@acme.example"; spf = pass '
        "smtp.mailfrom=ada@acme.example; dmarc=none"
    )

    assert parsed is not None
    assert parsed.authserv_id == "mx.acme.example"
    assert [(item.method, item.result) for item in parsed.results] == [
        ("dkim", "pass"),
        ("spf", "pass"),
        ("dmarc", "none"),
    ]
    assert parsed.results[0].properties == {"header.d": "Acme.Example", "header.i": "@acme.example"}
    assert parsed.results[1].properties == {"smtp.mailfrom": "ada@acme.example"}


def test_parse_results_none_and_empty() -> None:
    parsed = parse_authentication_results("mx.acme.example; none")

    assert parsed is not None
    assert parsed.results == ()
    assert parse_authentication_results("  (only a comment) ") is None


@pytest.mark.parametrize(
    ("header", "verified"),
    [
        (f"{TRUSTED}; dkim=pass header.d=acme.example", True),
        (f"{TRUSTED.upper()}; dkim=pass header.d=ACME.example", True),
        (f"{TRUSTED}; spf=pass smtp.mailfrom=bounces@acme.example", True),
        (f"{TRUSTED}; spf=pass smtp.mailfrom=acme.example", True),
        (f"{TRUSTED}; dkim=pass header.i=@acme.example", True),
        (f"{TRUSTED}; dkim=pass header.d=mail.acme.example", False),
        (f"{TRUSTED}; dkim=pass header.d=evil.example", False),
        (
            f"{TRUSTED}; dkim=fail header.d=acme.example; spf=softfail "
            "smtp.mailfrom=ada@acme.example",
            False,
        ),
        (f"{TRUSTED}; spf=pass smtp.mailfrom=ada@evil.example", False),
        ("mx.forger.example; dkim=pass header.d=acme.example", False),
        (f"{TRUSTED}.evil; dkim=pass header.d=acme.example", False),
    ],
)
def test_check_sender_cases(header: str, verified: bool) -> None:
    check = check_sender(mail_with(header), trusted_authserv_id=TRUSTED, address=AGENT)

    assert check.verified is verified, check.reason


def test_check_sender_empty_trust_verifies_nothing() -> None:
    mail = mail_with(f"{TRUSTED}; dkim=pass header.d=acme.example")

    check = check_sender(mail, trusted_authserv_id="", address=AGENT)

    assert check.verified is False
    assert "Mail settings" in check.reason


def test_check_sender_any_trusted_header_counts() -> None:
    mail = mail_with(
        "mx.forger.example; dkim=pass header.d=acme.example",
        f"{TRUSTED}; spf=pass smtp.mailfrom=ada@acme.example",
    )

    check = check_sender(mail, trusted_authserv_id=TRUSTED, address=AGENT)

    assert check.verified is True
    assert check.reason == "spf=pass for acme.example"


@pytest.mark.parametrize("value", ["mx example", "mx;evil", 42, "x" * 256])
def test_check_authserv_id_rejects(value: object) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_authserv_id(value)

    assert raised.value.field == "trusted_authserv_id"


def test_check_authserv_id_empty_values() -> None:
    assert check_authserv_id(None) == ""
    assert check_authserv_id("  ") == ""
    assert check_authserv_id(" mx.acme.example ") == "mx.acme.example"


def test_unverified_note_marks_and_fits() -> None:
    note = unverified_note(AGENT, "No header.", "x" * 60_000)

    assert note.startswith(f"[Received by email from the agent's address {AGENT}; not verified")
    assert len(note) <= 50_000
    assert note.endswith("[The email was shortened to fit a ticket message.]")
