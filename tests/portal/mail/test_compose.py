"""Composing messages: header injection is rejected, non-ASCII text is encoded, and
Message-IDs are signed per tenant."""

from __future__ import annotations

import email
import email.policy
import random
from dataclasses import replace
from datetime import datetime
from email.header import Header
from email.message import EmailMessage
from email.policy import compat32
from email.utils import formataddr

import pytest

from portal.errors import InvalidInput
from portal.mail import compose as compose_module
from portal.mail.compose import (
    MailAddress,
    MessageIdSigner,
    OutgoingAttachment,
    OutgoingMail,
    check_mail,
    compose,
    derive_key,
)

SENDER = MailAddress("acme@example.com", "Acme Support")
MAIL = OutgoingMail(ref="ticket:1", to=[MailAddress("cal@example.net", "Cal Customer")],
                    subject="Your request", text="Hello.\n")


def parsed(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.fixture
def signer() -> MessageIdSigner:
    return MessageIdSigner(derive_key("a secret key of the portal", "mail-message-id"))


@pytest.mark.parametrize(("mail", "field"), [
    (replace(MAIL, subject="Hi\r\nBcc: victim@example.org"), "subject"),
    (replace(MAIL, subject="Hi\nX-Injected: 1"), "subject"),
    (replace(MAIL, subject="Hi\x00there"), "subject"),
    (replace(MAIL, subject="Hi\u2028there"), "subject"),
    (replace(MAIL, to=[MailAddress("cal@example.net", "Cal\r\nBcc: x@example.org")]),
     "to[0].name"),
    (replace(MAIL, to=[MailAddress("cal@example.net\r\nBcc: x@example.org")]), "to[0].email"),
    (replace(MAIL, to=[MailAddress("cal@example.net, x@example.org")]), "to[0].email"),
    (replace(MAIL, from_name="Agent\nBcc: x@example.org"), "from_name"),
    (replace(MAIL, reply_to=MailAddress("r@example.org", "R\rX")), "reply_to.name"),
    (replace(MAIL, in_reply_to="<a@b>\r\nBcc: x@example.org"), "in_reply_to"),
    (replace(MAIL, references=["<a@b>", "not an id"]), "references[1]"),
    (replace(MAIL, ref="ticket:1\n"), "ref"),
    (replace(MAIL, subject="Hi\x1b[31m red"), "subject"),
    (replace(MAIL, subject="Hi\x85there"), "subject"),
    (replace(MAIL, to=[MailAddress("cal@example.net", "Cal\x00")]), "to[0].name"),
    (replace(MAIL, to=[MailAddress("cal@example.net", "Cal\u2029Bcc: x@example.org")]),
     "to[0].name"),
    (replace(MAIL, cc=[MailAddress("c@example.net", "C\nBcc: x@example.org")]), "cc[0].name"),
    (replace(MAIL, cc=[MailAddress("c@example.net\nBcc: x@example.org")]), "cc[0].email"),
    (replace(MAIL, from_name="Agent\x7f"), "from_name"),
    (replace(MAIL, reply_to=MailAddress("r@example.org\r\nBcc: x@example.org")),
     "reply_to.email"),
    (replace(MAIL, references=["<a@b>\nBcc: x@example.org"]), "references[0]"),
    (replace(MAIL, attachments=[
        OutgoingAttachment("a.txt\r\nBcc: x@example.org", "text/plain", b"")]),
     "attachments[0].filename"),
    (replace(MAIL, attachments=[OutgoingAttachment("a\x00.txt", "text/plain", b"")]),
     "attachments[0].filename"),
    (replace(MAIL, attachments=[
        OutgoingAttachment("a.txt", "text/plain\r\nBcc: x@example.org", b"")]),
     "attachments[0].content_type"),
])
def test_check_mail_rejects_header_injection(mail: OutgoingMail, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_mail(mail)

    assert raised.value.field == field


@pytest.mark.parametrize(("sender", "field"), [
    (MailAddress("acme@example.com", "Acme\r\nBcc: x@example.org"), "sender.name"),
    (MailAddress("acme@example.com", "Acme\nSupport"), "sender.name"),
    (MailAddress("acme@example.com\r\nBcc: x@example.org", "Acme"), "sender.email"),
])
def test_compose_rejects_sender_injection(sender: MailAddress, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        compose(MAIL, sender=sender, message_id="<x.1.y@example.com>")

    assert raised.value.field == field


def test_check_mail_rejects_no_recipient() -> None:
    with pytest.raises(InvalidInput) as raised:
        check_mail(replace(MAIL, to=[]))

    assert raised.value.field == "to"


def test_compose_encodes_non_ascii() -> None:
    mail = replace(MAIL, subject="Ihre Anfrage: Größe ändern ✓",
                   to=[MailAddress("cal@example.net", "Zoë Ångström")])

    content = compose(mail, sender=MailAddress("acme@example.com", "Café Support"),
                      message_id="<x.1.y@example.com>")
    message = parsed(content)

    assert content.isascii()
    assert b"=?utf-8?" in content
    assert str(message["Subject"]) == "Ihre Anfrage: Größe ändern ✓"
    assert message["To"].addresses[0].display_name == "Zoë Ångström"
    assert message["From"].addresses[0].display_name == "Café Support"


def test_compose_uses_crlf_line_ends() -> None:
    content = compose(MAIL, sender=SENDER, message_id="<x.1.y@example.com>")

    assert b"\r\n" in content
    assert b"\n" not in content.replace(b"\r\n", b"")


def test_compose_threading_headers() -> None:
    mail = replace(MAIL, in_reply_to="<c@example.net>", references=["<a@example.com>"],
                   reply_to=MailAddress("reply@example.com"), auto_submitted="auto-replied")

    message = parsed(compose(mail, sender=SENDER, message_id="<x.1.y@example.com>"))

    assert message["In-Reply-To"] == "<c@example.net>"
    assert message["References"] == "<a@example.com> <c@example.net>"
    assert message["Reply-To"] == "reply@example.com"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Message-ID"] == "<x.1.y@example.com>"


def test_compose_no_auto_submitted_by_default() -> None:
    message = parsed(compose(MAIL, sender=SENDER, message_id="<x.1.y@example.com>"))

    assert message["Auto-Submitted"] is None


def test_compose_html_alternative() -> None:
    mail = replace(MAIL, html="<p>Hello.</p>")

    message = parsed(compose(mail, sender=SENDER, message_id="<x.1.y@example.com>"))
    html = message.get_body(preferencelist=("html",))
    plain = message.get_body(preferencelist=("plain",))

    assert message.get_content_type() == "multipart/alternative"
    assert html is not None
    assert "<p>Hello.</p>" in str(html.get_content())
    assert plain is not None
    assert str(plain.get_content()).replace("\r\n", "\n") == "Hello.\n"


def test_compose_removes_bare_cr_and_controls() -> None:
    mail = replace(MAIL, text="line\rbare cr\x00nul\x1bescape\r\nnext")

    content = compose(mail, sender=SENDER, message_id="<x.1.y@example.com>")

    assert b"\r" not in content.replace(b"\r\n", b"")
    assert b"\x00" not in content
    assert b"\x1b" not in content
    assert b"line\r\nbare crnulescape\r\nnext" in content


def test_message_id_verifies_with_tenant(signer: MessageIdSigner) -> None:
    message_id = signer.new(42, "example.com")

    assert message_id.startswith("<")
    assert message_id.endswith("@example.com>")
    assert signer.tenant_of(message_id) == 42


def test_message_id_unique(signer: MessageIdSigner) -> None:
    assert signer.new(1, "example.com") != signer.new(1, "example.com")


def test_message_id_verifies_after_domain_change(signer: MessageIdSigner) -> None:
    message_id = signer.new(7, "old.example.com").replace("old.example.com", "new.example")

    assert signer.tenant_of(message_id) == 7


def test_message_id_moved_to_other_tenant_rejected(signer: MessageIdSigner) -> None:
    random_part, tenant, rest = signer.new(7, "example.com")[1:].split(".", 2)

    forged = f"<{random_part}.8.{rest}"

    assert tenant == "7"
    assert signer.tenant_of(forged) is None


def test_message_id_of_other_key_rejected(signer: MessageIdSigner) -> None:
    other = MessageIdSigner(derive_key("another portal's secret key", "mail-message-id"))

    assert signer.tenant_of(other.new(7, "example.com")) is None


@pytest.mark.parametrize("value", ["", "<>", "<abc@example.com>", "not an id",
                                   "<0123456789abcdef0123.1.zz@example.com>"])
def test_message_id_foreign_rejected(signer: MessageIdSigner, value: str) -> None:
    assert signer.tenant_of(value) is None


def test_derive_key_differs_from_secret() -> None:
    key = derive_key("a secret key of the portal", "mail-message-id")

    assert key != b"a secret key of the portal"
    assert key != derive_key("a secret key of the portal", "another-purpose")


# Values at and around the shortcut's bounds: empty, spaces at either end, runs of
# spaces, RFC 2047 lookalikes and address syntax, the longest line that fits and one
# character more, a tab, a line break and a non-ASCII letter (the last three are folded
# by compat32 itself).
FOLD_VALUES = [
    "", " ", "  leading", "trailing  ", "two  spaces", "=?utf-8?q?A=0D=0ABcc:_x?=",
    '"Quoted, Name" <someone@example.com>', "<a.b@example.com> <c.d@example.com>",
    "x" * 68, "x" * 69, "x" * 70, "word " * 14, "tab\there", "line\r\nbreak", "café",
]


@pytest.mark.parametrize("value", FOLD_VALUES)
def test_header_shortcut_matches_compat32(value: str) -> None:
    """The policy writes short printable ASCII lines itself; the bytes must be exactly
    what compat32's folding writes for every value."""
    folding = compat32.clone(linesep="\r\n", max_line_length=78)

    for name in ("Subject", "X-Auto-Response-Suppress"):
        assert compose_module._POLICY.fold_binary(name, value) == folding.fold_binary(
            name, value), (name, value)


def test_header_shortcut_matches_compat32_on_random_values() -> None:
    generator = random.Random(5322)
    alphabet = "aZ09 <>@.,;:\"()=?_-'\\/"
    folding = compat32.clone(linesep="\r\n", max_line_length=78)

    for _ in range(5000):
        value = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 80)))
        assert compose_module._POLICY.fold_binary("Subject", value) == folding.fold_binary(
            "Subject", value), value


def _old_address_header(name: str, addresses: list[MailAddress]) -> Header:
    """The ASCII address header as compose built it before it returned text."""
    header = Header(header_name=name)
    header.append(", ".join(formataddr((item.name.strip(), item.email)) for item in addresses),
                  "us-ascii")
    return header


def test_ascii_address_text_folds_like_a_header() -> None:
    """An all-ASCII address list is passed to compat32 as text. It must fold to the same
    bytes as the one-chunk `Header` it replaced, long lists included."""
    generator = random.Random(2822)
    alphabet = "aZ09 .,;:\"()<>@'-_"
    for _ in range(3000):
        addresses = [MailAddress(f"user{index}@example.com",
                                 "".join(generator.choice(alphabet)
                                         for _ in range(generator.randint(0, 30))))
                     for index in range(generator.randint(1, 4))]
        value = compose_module._address_header("To", addresses)
        if not isinstance(value, str):
            continue
        folded = compose_module._POLICY.fold_binary("To", value)
        assert folded == compose_module._POLICY.fold_binary(
            "To", _old_address_header("To", addresses)), addresses


def _random_text(generator: random.Random, *, lines: int) -> str:
    pieces = ["word", "a", " ", "  ", "Ünïcode", "\r\n", "\r", "\n", "\t", "\x0b", "=?",
              "From ", ".", "x" * 40, "€", "\x00"]
    return "".join(generator.choice(pieces) for _ in range(generator.randint(0, lines)))


def test_plain_message_matches_the_email_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain text mail is written without `email.mime`. On random mails the bytes must be
    exactly those the email package writes, and many must take the short path."""
    monkeypatch.setattr(compose_module, "utcnow", lambda: datetime(2026, 12, 5, 9, 30))
    generator = random.Random(5321)
    build_plain = compose_module._plain_message
    short = 0
    for _ in range(1500):
        name = generator.choice(["Cal Customer", "", "Ünï", '"Q, N"', "a" * 60, "=?x?="])
        mail = OutgoingMail(
            ref="ticket:1", to=[MailAddress("cal@example.net", name)],
            cc=generator.choice([[], [MailAddress("dee@example.net", "Dee")]]),
            subject=_random_text(generator, lines=6).replace("\r", "").replace("\n", "")
            .replace("\x0b", "").replace("\x00", ""),
            text=_random_text(generator, lines=generator.choice([8, 60])),
            reply_to=generator.choice([None, MailAddress("help@example.com")]),
            in_reply_to=generator.choice([None, "<a.b@example.com>"]),
            references=generator.choice([(), ("<c.d@example.com>",), ("<e@x.com>",) * 3]),
            auto_submitted=generator.choice(["no", "auto-replied"]))
        sender = MailAddress("acme@example.com", generator.choice(["Acme", "Äcme", ""]))
        monkeypatch.setattr(compose_module, "_plain_message", build_plain)
        fast = compose(mail, sender=sender, message_id="<m@example.com>")
        headers = compose_module._headers(mail, sender, "<m@example.com>")
        short += build_plain(mail, headers) is not None
        monkeypatch.setattr(compose_module, "_plain_message", lambda *args: None)
        assert fast == compose(mail, sender=sender, message_id="<m@example.com>"), mail
    assert 200 < short < 1300, short


@pytest.mark.parametrize(("address", "mailable"), [
    ("cal@example.net", True), ("jörg@example.com", False), ("cal@exämple.net", False),
    ("", False), ("no-at-sign", False), ("a\r\nBcc: x@example.com", False),
])
def test_is_mailable(address: str, mailable: bool) -> None:
    assert compose_module.is_mailable(address) is mailable
