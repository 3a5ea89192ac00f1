"""Composed mail parses back, with `email.policy.default`, to the headers, body text and
attachments it was built from, for a matrix of names, subjects and MIME layouts."""

from __future__ import annotations

import email
import email.policy
import itertools
import re
from email.message import EmailMessage

import pytest

from portal.mail.compose import (
    MailAddress,
    OutgoingAttachment,
    OutgoingMail,
    check_mail,
    compose,
)

MESSAGE_ID = "<0123456789abcdef0123.7.0123456789abcdef01234567@acme.example.com>"
# Fits in one encoded word even when Q-encoded, because the parser of Python 3.11 puts a
# space between adjacent encoded words of a display name.
ENCODED_NEWLINE = "=?utf-8?q?A=0D=0ABcc:_x@y.z?="

NAMES = {
    "ascii": "Cal Customer",
    "non_ascii": "Zoë Ångström",
    "specials": 'Smith, John "JJ" (Ops) @ HQ; \\ back',
    "non_ascii_specials": 'Zoë, "Doc" (Å) @home',
    "empty": "",
    "encoded_newline": ENCODED_NEWLINE,
}
SUBJECTS = {
    "ascii": "[#42] Your request: printer on floor 3",
    "non_ascii": "Ihre Anfrage: Größe ändern ✓",
    "long_ascii": "Re: " + " ".join(f"word{index}" for index in range(60)),
    "long_non_ascii": "Antwort: " + " ".join(f"Grüße{index}" for index in range(40)),
    "encoded_newline": ENCODED_NEWLINE,
    "long_words": "a" * 70 + " " + "b" * 900,
}
LAYOUTS = ["text", "html", "attachments", "html_attachments"]
REFERENCES = [f"<{index:020x}.{index + 1}.{index:024x}@example.com>" for index in range(15)]
ATTACHMENTS = (
    OutgoingAttachment("report.pdf", "application/pdf", b"%PDF-1.4\n" + bytes(range(256))),
    OutgoingAttachment("Größe ü (1).txt", "text/plain", "Grüße\n".encode()),
)
SENDER = MailAddress("support@acme.example.com", "Acme Support")


def make_mail(name: str, subject: str, layout: str, threaded: bool) -> OutgoingMail:
    mail = OutgoingMail(
        ref="ticket:42",
        to=[
            MailAddress("cal@customer.example", name),
            MailAddress("dana@customer.example", "Dana, Customer"),
        ],
        cc=[MailAddress("ops@customer.example", name)],
        subject=subject,
        text="Hello,\n\nwe received your request.\nGrüße, Acme\n",
        html="<p>Hello,</p><p>Grüße, Acme</p>" if "html" in layout else None,
        reply_to=MailAddress("support+42@acme.example.com", name),
        in_reply_to=REFERENCES[-1] if threaded else None,
        references=REFERENCES if threaded else (),
        auto_submitted="auto-replied" if threaded else "no",
        attachments=ATTACHMENTS if "attachments" in layout else (),
    )
    check_mail(mail)
    return mail


def parsed(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def header_block(content: bytes) -> str:
    return content.split(b"\r\n\r\n", 1)[0].decode("ascii")


def raw_header(content: bytes, name: str) -> str:
    """Return the unfolded raw value of header `name` of the top-level header block."""
    unfolded = re.sub(r"\r\n(?=[ \t])", "", header_block(content))
    values = [
        line.split(": ", 1)[1]
        for line in unfolded.split("\r\n")
        if line.lower().startswith(name.lower() + ": ")
    ]
    assert len(values) == 1
    return values[0]


def assert_addresses(message: EmailMessage, name: str, expected: list[MailAddress]) -> None:
    addresses = message[name].addresses
    assert [address.addr_spec for address in addresses] == [item.email for item in expected]
    assert [address.display_name for address in addresses] == [item.name for item in expected]


MATRIX = list(itertools.product(NAMES, SUBJECTS, LAYOUTS, [False, True]))


@pytest.mark.parametrize(
    ("name", "subject", "layout", "threaded"),
    MATRIX,
    ids=["-".join(map(str, case)) for case in MATRIX],
)
def test_compose_parses_back(name: str, subject: str, layout: str, threaded: bool) -> None:
    mail = make_mail(NAMES[name], SUBJECTS[subject], layout, threaded)
    sender = MailAddress("support@acme.example.com", NAMES[name])

    content = compose(mail, sender=sender, message_id=MESSAGE_ID)
    message = parsed(content)

    assert header_block(content).isascii()
    assert b"\n" not in content.replace(b"\r\n", b"")
    assert b"\r" not in content.replace(b"\r\n", b"")
    assert max(len(line) for line in header_block(content).split("\r\n")) <= 78
    assert max(len(line) for line in content.split(b"\r\n")) <= 998
    expected_headers = {
        "From",
        "To",
        "Cc",
        "Subject",
        "Date",
        "Message-ID",
        "Reply-To",
        "MIME-Version",
        "Content-Type",
    }
    if layout == "text":
        expected_headers.add("Content-Transfer-Encoding")
    if threaded:
        expected_headers |= {
            "In-Reply-To",
            "References",
            "Auto-Submitted",
            "X-Auto-Response-Suppress",
        }
    assert set(message.keys()) == expected_headers
    assert len(message.keys()) == len(expected_headers)
    assert_addresses(message, "From", [sender])
    assert_addresses(message, "To", list(mail.to))
    assert_addresses(message, "Cc", list(mail.cc))
    assert mail.reply_to is not None
    assert_addresses(message, "Reply-To", [mail.reply_to])
    assert str(message["Subject"]) == mail.subject
    assert message["Message-ID"] == MESSAGE_ID
    assert message["Date"].datetime.tzinfo is not None
    if threaded:
        assert message["In-Reply-To"] == REFERENCES[-1]
        assert raw_header(content, "References") == " ".join(REFERENCES)
        assert str(message["References"]) == " ".join(REFERENCES)
        assert message["Auto-Submitted"] == "auto-replied"
        assert message["X-Auto-Response-Suppress"] == "All"

    expected_type = {"text": "text/plain", "html": "multipart/alternative"}.get(
        layout, "multipart/mixed"
    )
    assert message.get_content_type() == expected_type
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n") == mail.text
    html = message.get_body(preferencelist=("html",))
    if mail.html is None:
        assert html is None
    else:
        assert html is not None
        assert html.get_content().replace("\r\n", "\n") == mail.html + "\n"
    attachments = list(message.iter_attachments())
    assert [part.get_filename() for part in attachments] == [
        item.filename for item in mail.attachments
    ]
    assert [part.get_content_type() for part in attachments] == [
        item.content_type for item in mail.attachments
    ]
    assert [part.get_payload(decode=True) for part in attachments] == [
        item.data for item in mail.attachments
    ]
    assert {part["Content-Transfer-Encoding"] for part in attachments} <= {"base64"}


def test_compose_encoded_newline_stays_literal() -> None:
    mail = make_mail(ENCODED_NEWLINE, ENCODED_NEWLINE, "text", False)

    content = compose(mail, sender=SENDER, message_id=MESSAGE_ID)
    message = parsed(content)

    assert b"\r\nBcc" not in content
    assert b"A=0D=0ABcc" not in content
    assert message["Bcc"] is None
    assert str(message["Subject"]) == ENCODED_NEWLINE
    assert message["To"].addresses[0].display_name == ENCODED_NEWLINE


def test_compose_encoded_word_filename_stays_literal() -> None:
    attachment = OutgoingAttachment(ENCODED_NEWLINE + ".txt", "text/plain", b"hi")
    mail = OutgoingMail(
        ref="ticket:42",
        to=[MailAddress("cal@customer.example")],
        subject="Files",
        text="See attached.\n",
        attachments=[attachment],
    )
    check_mail(mail)

    message = parsed(compose(mail, sender=SENDER, message_id=MESSAGE_ID))

    assert [part.get_filename() for part in message.iter_attachments()] == [
        ENCODED_NEWLINE + ".txt"
    ]


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Hello,\nshort ASCII lines.\n", "7bit"),
        ("Grüße,\nshort lines with non-ASCII text.\n", "8bit"),
        ("A long ASCII line " * 20 + "\nand Grüße\n", "quoted-printable"),
        ("Длинная строка текста на русском языке " * 10 + "\n", "base64"),
    ],
)
def test_compose_body_transfer_encoding(text: str, encoding: str) -> None:
    mail = OutgoingMail(
        ref="ticket:42", to=[MailAddress("cal@customer.example")], subject="Body", text=text
    )

    content = compose(mail, sender=SENDER, message_id=MESSAGE_ID)
    message = parsed(content)

    assert message["Content-Transfer-Encoding"] == encoding
    assert message.get_content().replace("\r\n", "\n") == text
    assert max(len(line) for line in content.split(b"\r\n")) <= 78


def test_compose_body_gets_final_line_end() -> None:
    mail = OutgoingMail(
        ref="ticket:42",
        to=[MailAddress("cal@customer.example")],
        subject="Body",
        text="no line end",
        html="",
    )

    message = parsed(compose(mail, sender=SENDER, message_id=MESSAGE_ID))
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))

    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n") == "no line end\n"
    assert html is not None
    assert html.get_content().replace("\r\n", "\n") == "\n"


def test_compose_long_name_and_filenames_fold() -> None:
    name = "漢字" * 100
    filenames = ["ö" * 250 + ".pdf", "report-" * 35 + ".pdf"]
    mail = OutgoingMail(
        ref="ticket:42",
        to=[MailAddress("cal@customer.example", name)],
        subject="Files",
        text="See attached.\n",
        attachments=[
            OutgoingAttachment(filename, "application/pdf", b"x") for filename in filenames
        ],
    )
    check_mail(mail)

    content = compose(mail, sender=SENDER, message_id=MESSAGE_ID)
    message = parsed(content)

    assert max(len(line) for line in content.split(b"\r\n")) <= 78
    # The parser of Python 3.11 puts a space between adjacent encoded words of a display
    # name, so only the characters are compared.
    assert message["To"].addresses[0].display_name.replace(" ", "") == name
    assert [part.get_filename() for part in message.iter_attachments()] == filenames


def test_compose_mime_version_only_top_level() -> None:
    mail = make_mail("Cal", "Files", "html_attachments", False)

    content = compose(mail, sender=SENDER, message_id=MESSAGE_ID)

    assert content.count(b"MIME-Version:") == 1
    assert header_block(content).count("MIME-Version: 1.0") == 1


def test_compose_content_headers_last() -> None:
    mail = make_mail("Cal", "Files", "html", False)

    names = [
        line.split(":", 1)[0]
        for line in header_block(compose(mail, sender=SENDER, message_id=MESSAGE_ID)).split("\r\n")
        if line[0] not in " \t"
    ]

    assert names[0] == "From"
    assert names[-2:] == ["Content-Type", "MIME-Version"]
