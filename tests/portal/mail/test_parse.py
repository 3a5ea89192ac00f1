"""`portal.mail.parse`: bytes from the wild in, a clean `ParsedMail` out.

Fixture messages are in tests/fixtures/mail/; messages whose size is the point (thousands
of parts, huge attachments) are built here.
"""
# The expected texts are in the scripts and punctuation that the fixtures use on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from portal.mail.parse import MailLimitExceeded, MailLimits, ParsedMail, parse_mail

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mail"


def fixture(name: str) -> ParsedMail:
    return parse_mail((FIXTURES / name).read_bytes())


def multipart_with_parts(count: int, *, part_bytes: bytes = b"part") -> bytes:
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\n" + part_bytes + b"\r\n"
                     for _ in range(count))
    return (b"From: many@example.com\r\nMessage-ID: <many@example.com>\r\n"
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n")


def nested_multipart(depth: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\ninnermost\r\n"
    for level in range(depth):
        boundary = f"level{level}".encode()
        body = (b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--"
                + boundary + b"\r\n" + body + b"--" + boundary + b"--\r\n")
    return b"From: deep@example.com\r\n" + body


def test_parse_mail_windows_1252_body_and_folded_encoded_subject() -> None:
    mail = fixture("plain_windows1252.eml")

    assert mail.subject == "Rechnung – März 2025"
    assert "Rechnung – März € 12,50" in mail.text
    assert mail.from_ is not None
    assert mail.from_.name == "Anna Schmidt"
    assert mail.from_.address == "anna@example.org"
    assert mail.date == datetime(2025, 3, 4, 8, 15, tzinfo=UTC)
    assert mail.defects == ()


@pytest.mark.parametrize(("name", "subject", "sender", "text"), [
    ("koi8r.eml", "Проблема со входом", "Иван Петров", "Здравствуйте, не работает вход"),
    ("gb18030.eml", "发票问题", "张伟", "您好，我的发票有问题。𠀀"),
    ("iso2022jp.eml", "注文について", "山田太郎", "お問い合わせありがとうございます"),
])
def test_parse_mail_national_charsets(name: str, subject: str, sender: str, text: str) -> None:
    mail = fixture(name)

    assert mail.subject == subject
    assert mail.from_ is not None
    assert mail.from_.name == sender
    assert mail.text.strip() == text
    assert mail.defects == ()


def test_parse_mail_wrong_charset_labels_fall_back() -> None:
    mail = fixture("wrong_charsets.eml")

    assert "ascii label, utf-8 text: café" in mail.text
    assert "unknown label: naïve" in mail.text
    assert "empty label: crème brûlée" in mail.text
    assert "text/plain part: unknown charset 'x-no-such-charset'" in mail.defects
    assert len(mail.defects) == 3


def test_parse_mail_invalid_bytes_replaced_with_defect() -> None:
    mail = fixture("invalid_bytes.eml")

    assert mail.text.startswith("valid start ")
    assert mail.text.rstrip().endswith(" end")
    assert "\ufffd" in mail.text
    assert any("windows-1252" in defect for defect in mail.defects)


def test_parse_mail_html_only_sanitized_and_converted() -> None:
    mail = fixture("html_only.eml")

    assert mail.html is not None
    for unsafe in ("<script", "onload", "onclick", "javascript:", "tracker.example",
                   "Secret title", "color: red"):
        assert unsafe not in mail.html
    assert '<a href="https://example.com/x" rel="noopener noreferrer">portal</a>' in mail.html
    assert "Hello team," in mail.text
    assert "the portal is down.\nSince 9:00." in mail.text
    assert "- first" in mail.text
    assert "alert" not in mail.text
    assert mail.text_quoted == "> old quoted text"


def test_parse_mail_html_fragment_with_meta_charset() -> None:
    mail = fixture("html_fragment.eml")

    assert mail.html == "<div>Dzień dobry, <i>prośba</i></div>"
    assert mail.text == "Dzień dobry, prośba"


def test_parse_mail_alternative_prefers_text_keeps_html_and_inline_image() -> None:
    mail = fixture("alternative_related.eml")

    assert mail.text == "The error is in the screenshot."
    assert mail.html is not None
    assert 'src="cid:shot1@example.com"' in mail.html
    assert len(mail.attachments) == 1
    image = mail.attachments[0]
    assert image.content_type == "image/png"
    assert image.content_id == "shot1@example.com"
    assert image.inline is True
    assert image.data.startswith(b"\x89PNG")


def test_parse_mail_signed_keeps_signature_as_attachment() -> None:
    mail = fixture("signed.eml")

    assert mail.text == "Please reset my account."
    assert [item.filename for item in mail.attachments] == ["signature.asc"]
    assert mail.attachments[0].content_type == "application/pgp-signature"


def test_parse_mail_forwarded_message_attached_and_summarized() -> None:
    mail = fixture("forwarded.eml")

    assert mail.text_visible == "Please look at the message below."
    assert "From: Angry Customer <angry@example.net>" in mail.text
    assert "Subject: Complaint – broken order" in mail.text
    assert "My order 4711 arrived broken." in mail.text_quoted
    assert len(mail.attachments) == 1
    attached = mail.attachments[0]
    assert attached.filename == "Complaint – broken order.eml"
    assert attached.content_type == "message/rfc822"
    assert b"Message-ID: <complaint@example.net>" in attached.data


def test_parse_mail_attachment_names_decoded_and_made_safe() -> None:
    mail = fixture("attachments.eml")
    names = [item.filename for item in mail.attachments]

    assert names == ["Rechnung März.pdf", "日本語.txt", "über.txt", "passwd", "attachment.gif"]
    assert mail.attachments[0].data == b"%PDF-1.4 fake"
    assert mail.attachments[0].content_type == "application/pdf"
    assert mail.attachments[4].inline is True
    assert mail.attachments[0].inline is False


def test_parse_mail_delivery_status_bounce() -> None:
    mail = fixture("bounce_dsn.eml")

    assert mail.bounce is not None
    assert mail.bounce.is_standard is True
    assert mail.bounce.is_permanent is True
    assert mail.bounce.original_message_id == "<ticket-12-reply@acme.localhost>"
    recipient = mail.bounce.recipients[0]
    assert recipient.address == "gone@example.net"
    assert recipient.action == "failed"
    assert recipient.status == "5.1.1"
    assert "Recipient address rejected" in recipient.diagnostic
    assert mail.is_automatic is True
    assert mail.is_out_of_office is False
    assert "empty Return-Path <>" in mail.auto_reasons


def test_parse_mail_bounce_without_report_recognized() -> None:
    raw = (b"From: MAILER-DAEMON@mx.example.com\r\nSubject: Mail delivery failed: returning "
           b"message to sender\r\nMessage-ID: <b2@mx.example.com>\r\n\r\nThe address failed.\r\n")
    mail = parse_mail(raw)

    assert mail.bounce is not None
    assert mail.bounce.is_standard is False
    assert mail.is_automatic is True


def test_parse_mail_out_of_office() -> None:
    mail = fixture("out_of_office.eml")

    assert mail.is_out_of_office is True
    assert mail.is_automatic is True
    assert "Auto-Submitted: auto-replied" in mail.auto_reasons
    assert "X-Auto-Response-Suppress" in mail.auto_reasons
    assert mail.bounce is None


@pytest.mark.parametrize("subject", ["Out of Office: Re: Invoice", "Abwesenheitsnotiz",
                                     "Réponse automatique : absent", "AutoReply: away"])
def test_parse_mail_out_of_office_by_subject(subject: str) -> None:
    raw = f"From: a@example.com\r\nSubject: {subject}\r\n\r\nAway.\r\n".encode()
    mail = parse_mail(raw)

    assert mail.is_out_of_office is True
    assert mail.is_automatic is True


def test_parse_mail_list_mail_automatic() -> None:
    mail = fixture("list_mail.eml")

    assert mail.auto_reasons == ("Precedence: bulk",
                                 "mailing list headers (list-id, list-unsubscribe)")
    assert mail.is_out_of_office is False


@pytest.mark.parametrize(("header", "automatic"), [
    ("Auto-Submitted: no", False),
    ("Auto-Submitted: auto-generated", True),
    ("Auto-Submitted: auto-notified; owner-email=x@example.com", True),
    ("Precedence: junk", True),
    ("Precedence: first-class", False),
    ("List-Post: <mailto:l@example.com>", True),
    ("X-Auto-Response-Suppress: OOF", True),
    ("Return-Path: <>", True),
    ("Return-Path: <a@example.com>", False),
    ("X-Autoreply: yes", True),
])
def test_parse_mail_automatic_markers(header: str, automatic: bool) -> None:
    raw = f"From: a@example.com\r\n{header}\r\nSubject: Question\r\n\r\nHi.\r\n".encode()

    assert parse_mail(raw).is_automatic is automatic


def test_parse_mail_person_mail_not_automatic() -> None:
    mail = fixture("plain_windows1252.eml")

    assert mail.is_automatic is False
    assert mail.auto_reasons == ()


def test_parse_mail_truncated_keeps_what_arrived() -> None:
    mail = fixture("truncated.eml")

    assert mail.text == "The start survived."
    assert [item.filename for item in mail.attachments] == ["half.pdf"]
    assert mail.attachments[0].data.startswith(b"%PDF-1.4")
    assert any("CloseBoundaryNotFound" in defect for defect in mail.defects)


def test_parse_mail_malformed_headers_read_one_by_one() -> None:
    mail = fixture("malformed_headers.eml")

    assert mail.subject.startswith("Café raw 8-bit")
    assert mail.message_id == "<no-brackets@example.com>"
    assert mail.date is None
    assert mail.in_reply_to is None
    assert [item.address for item in mail.to] == ["support@acme.localhost"]
    assert "Body after broken headers." in mail.text
    assert "Date: invalid date '32 Foo 20251 99:99:99 +9999'" in mail.defects
    assert "To: invalid address 'not'" in mail.defects
    assert "Subject: unknown charset 'x-bogus'" in mail.defects


def test_parse_mail_missing_message_id() -> None:
    mail = fixture("missing_message_id.eml")

    assert mail.message_id is None
    assert "missing Message-ID" in mail.defects
    assert mail.text.strip() == "Plain body without MIME headers."


def test_parse_mail_duplicate_message_id_first_wins() -> None:
    mail = fixture("duplicate_message_id.eml")

    assert mail.message_id == "<first@example.com>"
    assert "2 message-id headers; the first one is used" in mail.defects


def test_parse_mail_folded_headers_unfolded() -> None:
    mail = fixture("folded_headers.eml")

    assert mail.subject == "This subject is folded across three lines"
    assert mail.from_ is not None
    assert mail.from_.name == "Folded Name"
    assert [item.address for item in mail.to] == ["first@example.com", "second@example.com",
                                                  "third@example.com"]
    assert mail.to[2].name == "Third, Person"
    assert mail.message_id == "<folded@example.com>"
    assert mail.in_reply_to == "<parent@example.com>"
    assert mail.references == ("<root@example.com>", "<parent@example.com>")


def test_parse_mail_encoded_newlines_removed_from_addresses() -> None:
    mail = fixture("encoded_newline_address.eml")

    assert mail.from_ is not None
    assert "\n" not in mail.from_.name
    assert "\r" not in mail.from_.name
    assert mail.from_.address == "eve@example.com"
    assert "\n" not in mail.subject
    assert mail.reply_to == ()
    assert any(defect.startswith("Reply-To: encoded word in address")
               for defect in mail.defects)


def test_parse_mail_quoted_history_and_signature_split() -> None:
    mail = fixture("quoted_reply.eml")

    assert mail.text_visible == "It works again, thank you!"
    assert mail.signature == "-- \nCasey Customer\nExample Ltd."
    assert mail.text_quoted.startswith("-----Original Message-----")
    assert mail.text_quoted.endswith("Did you restart the printer?")
    assert "It works again" in mail.text
    assert "Did you restart the printer?" in mail.text


@pytest.mark.parametrize(("body", "visible", "quoted"), [
    ("Thanks!\n\nOn Mon, 3 Mar 2025 at 10:00, Support <s@example.com> wrote:\n> Hi",
     "Thanks!", "On Mon, 3 Mar 2025 at 10:00, Support <s@example.com> wrote:\n> Hi"),
    ("Danke!\n\nAm 03.03.2025 um 10:00 schrieb Support <s@example.com>:\n> Hallo",
     "Danke!", "Am 03.03.2025 um 10:00 schrieb Support <s@example.com>:\n> Hallo"),
    ("Yes.\n\n> Did it work?\n> Tell us.", "Yes.", "> Did it work?\n> Tell us."),
    ("> Did it work?\nYes.\n> And now?\nAlso yes.",
     "> Did it work?\nYes.\n> And now?\nAlso yes.", ""),
])
def test_parse_mail_quote_patterns(body: str, visible: str, quoted: str) -> None:
    mail = parse_mail(f"From: a@example.com\r\nSubject: x\r\n\r\n{body}\r\n".encode())

    assert mail.text_visible == visible
    assert mail.text_quoted == quoted


def test_parse_mail_format_flowed_unwrapped() -> None:
    mail = fixture("flowed.eml")

    assert mail.text.splitlines() == [
        "This is a long line that the client wrapped because it was too long for one line.",
        "From the stuffed line."]


def test_parse_mail_header_lookup() -> None:
    mail = fixture("list_mail.eml")

    assert mail.header("list-id") == "<news.lists.example.com>"
    assert mail.header("X-Missing") is None


@pytest.mark.parametrize("raw", [b"", b"\x00\xff" * 500, b"no colon at all",
                                 b"Subject: only headers", b"\r\n\r\n\r\n",
                                 b"Content-Type: multipart/mixed\r\n\r\nno boundary\r\n",
                                 b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"])
def test_parse_mail_garbage_never_raises(raw: bytes) -> None:
    mail = parse_mail(raw)

    assert mail.size == len(raw)
    assert mail.is_automatic is False


def test_parse_mail_thousand_parts_within_limit() -> None:
    started = time.monotonic()
    mail = parse_mail(multipart_with_parts(900))

    assert mail.text.count("part") == 900
    assert time.monotonic() - started < 10


def test_parse_mail_thousands_of_parts_rejected() -> None:
    with pytest.raises(MailLimitExceeded) as raised:
        parse_mail(multipart_with_parts(5000))

    assert raised.value.reason == "parts"
    assert "1,000 MIME parts" in raised.value.message


def test_parse_mail_deep_nesting_rejected() -> None:
    with pytest.raises(MailLimitExceeded) as raised:
        parse_mail(nested_multipart(50))

    assert raised.value.reason == "depth"


def test_parse_mail_nesting_within_limit_parsed() -> None:
    mail = parse_mail(nested_multipart(10))

    assert mail.text.strip() == "innermost"


def test_parse_mail_over_total_size_rejected() -> None:
    limits = MailLimits(max_bytes=1000)

    with pytest.raises(MailLimitExceeded) as raised:
        parse_mail(b"Subject: big\r\n\r\n" + b"x" * 2000, limits=limits)

    assert raised.value.reason == "size"
    assert "maximum is 1,000" in raised.value.message


def test_parse_mail_huge_header_block_rejected() -> None:
    raw = b"".join(b"X-Filler: " + b"y" * 990 + b"\r\n" for _ in range(300)) + b"\r\nbody"

    with pytest.raises(MailLimitExceeded) as raised:
        parse_mail(raw)

    assert raised.value.reason == "header_size"


def test_parse_mail_huge_attachment_kept_whole() -> None:
    payload = bytes(range(256)) * (20 * 1024 * 1024 // 256)
    raw = (b"From: big@example.com\r\nMessage-ID: <big@example.com>\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
           b"Content-Type: text/plain\r\n\r\nSee the file.\r\n--b\r\n"
           b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
           b"Content-Disposition: attachment; filename=\"big.bin\"\r\n\r\n"
           + base64.encodebytes(payload) + b"--b--\r\n")

    mail = parse_mail(raw)

    assert mail.attachments[0].filename == "big.bin"
    assert mail.attachments[0].size == len(payload)
    assert mail.attachments[0].data == payload
