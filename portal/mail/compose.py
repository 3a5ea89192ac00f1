"""Building outgoing messages safely, and signing the Message-IDs they carry.

Every header value that may come from user text (names, subjects, addresses, file
names) is checked by `check_mail` for CR, LF and other control characters, so that no
input can add a header or a second message (header injection). `compose` checks the
sender the same way, because its name may be the workspace name.

`compose` builds the message with `email.mime` and the compat32 policy (CRLF line ends),
which stores header values as given instead of parsing and refolding each one as the
SMTP policy does. A confirmation mail took about 0.35 ms of CPU instead of 1.4 ms
(measured on an AMD EPYC virtual machine with Python 3.11). A mail that is one plain
text part with short ASCII header lines and short body lines is written as bytes
directly by `_plain_message`, in about a quarter of the time `email.mime` takes.

Nothing on the way decodes RFC 2047 text: display names and subjects that are not
ASCII, or that contain "=?" and so could be read as an encoded word, go out as RFC 2047
encoded words through `email.header.Header`, so a receiver reads back the literal text.
ASCII names are quoted by `email.utils.formataddr` when they contain specials. `Header`
folds at 78 characters and raises `HeaderParseError` if a folded value would start a
new header.
Bodies are UTF-8, 7bit or 8bit while every line fits in 78 octets, else
quoted-printable or base64. Attachments are base64, with non-ASCII file names as RFC
2231 parameters.

A Message-ID is `<random.tenant.signature@domain>`: the signature is an HMAC-SHA256 over
the tenant id and the random part, with a key derived from the portal's secret key, so
`verify_message_id` can tell our own IDs, and their tenant, from forged ones. The tenant
id is visible in the ID; that reveals no more than the workspace's From address does.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import quoprimime
from email.charset import BASE64, QP, Charset
from email.encoders import encode_base64
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP, Compat32
from email.utils import format_datetime, formataddr
from typing import Any, Literal, cast

from portal.db import utcnow
from portal.errors import InvalidInput

MAX_SUBJECT = 998 - len("Subject: ")
MAX_NAME = 200
MAX_BODY = 1024 * 1024
MAX_RECIPIENTS = 50
MAX_REFERENCES = 20
# Attachments of one message together, before base64 grows them by a third. Relays
# commonly accept 25 MB per message, and the composed bytes stay in the outbox row.
MAX_ATTACHMENT_BYTES = 15 * 1024 * 1024

AutoSubmitted = Literal["no", "auto-generated", "auto-replied"]
AUTO_SUBMITTED_VALUES = ("no", "auto-generated", "auto-replied")

# C0 controls (CR and LF among them), DEL and the C1 controls. A tab is allowed in names
# and subjects, where it folds like a space.
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
                      r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_MESSAGE_ID = re.compile(r"^<([0-9a-f]{20})\.([1-9][0-9]{0,18})\.([0-9a-f]{24})@([^<>@\s]+)>$")
_ANY_MESSAGE_ID = re.compile(r"^<[^<>\s]{1,900}@[^<>\s]{1,250}>$")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}$")

# compat32 stores header values as given and folds them with `email.header.Header`,
# which costs a fraction of the SMTP policy's parsing and refolding of every header.
_MAX_LINE = 78
# Printable ASCII only: no tab, line break or other control character.
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")


class _Compat32(Compat32):
    """compat32 that writes a header line of printable ASCII that fits within the line
    limit as it is, without building a `Header` to fold it.

    `Header.encode` returns such a value unchanged, so the output is the same; the
    tests compare both on many values."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if (isinstance(value, str) and len(name) + 2 + len(value) <= _MAX_LINE
                and _PRINTABLE_ASCII.fullmatch(value)):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_POLICY = _Compat32(linesep="\r\n", max_line_length=_MAX_LINE)


def _utf8_charset(body_encoding: int | None) -> Charset:
    charset = Charset("utf-8")
    # typeshed types this as int, but None is the documented value for "no encoding".
    charset.body_encoding = body_encoding  # type: ignore[assignment]
    return charset


# Header text is encoded with Q or B, whichever is shorter. A body with this charset
# goes out as 7bit when ASCII and as 8bit otherwise.
_UTF8_AS_IS = _utf8_charset(None)
_UTF8_QUOTED_PRINTABLE = _utf8_charset(QP)
_UTF8_BASE64 = _utf8_charset(BASE64)


@dataclass(frozen=True)
class MailAddress:
    """An email address with an optional display name."""

    email: str
    name: str = ""


@dataclass(frozen=True)
class OutgoingAttachment:
    """A file attached to outgoing mail; `content_type` is `type/subtype` without
    parameters."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutgoingMail:
    """One message an app asks the portal to send.

    `ref` is the app's own handle for the mail, such as "ticket:42", to look up its
    delivery state later. `from_name` replaces the workspace's sender name (the address
    stays the workspace's). `in_reply_to` and `references` are Message-IDs with their
    angle brackets, for threading. `cc` recipients are named in the Cc header and get
    the mail like `to`.
    """

    ref: str
    to: Sequence[MailAddress]
    subject: str
    text: str
    html: str | None = None
    from_name: str | None = None
    reply_to: MailAddress | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = field(default_factory=tuple)
    auto_submitted: AutoSubmitted = "no"
    cc: Sequence[MailAddress] = field(default_factory=tuple)
    attachments: Sequence[OutgoingAttachment] = field(default_factory=tuple)


def check_header_text(value: object, *, field: str, max_length: int) -> str:
    """Return `value` as one header line, or raise InvalidInput naming `field` when it is
    not text, contains a line break or control character, or is too long."""
    if not isinstance(value, str):
        raise InvalidInput(f"The {field} must be text, not {type(value).__name__}.",
                           field=field)
    found = _HEADER_CONTROL.search(value)
    if found:
        raise InvalidInput(f"The {field} contains the control character {found.group()!r}; "
                           "remove line breaks and control characters.", field=field)
    value = value.strip()
    if len(value) > max_length:
        raise InvalidInput(f"The {field} is {len(value)} characters long; the maximum is "
                           f"{max_length}.", field=field)
    return value


def check_address(value: object, *, field: str) -> str:
    """Return an ASCII address such as `ada@example.com`, or raise InvalidInput."""
    text = check_header_text(value, field=field, max_length=254)
    if not _ADDRESS.match(text) or ".." in text:
        raise InvalidInput(f"Invalid email address {text!r} in {field}: expected "
                           "name@example.com in ASCII.", field=field)
    return text


def is_mailable(address: str) -> bool:
    """Return whether the outbox can send to `address`: an ASCII address that
    `check_address` accepts. An address that is not ASCII needs SMTPUTF8, which the
    outbox does not use."""
    try:
        check_address(address, field="address")
    except InvalidInput:
        return False
    return True


def check_domain(value: str, *, field: str = "domain") -> str:
    text = check_header_text(value, field=field, max_length=253).lower()
    if not _DOMAIN.match(text) or ".." in text:
        raise InvalidInput(f"Invalid domain {text!r}: expected a host name such as "
                           "mail.example.com.", field=field)
    return text


def check_message_id_syntax(value: object, *, field: str) -> str:
    """Return a Message-ID such as `<abc@example.com>`, or raise InvalidInput."""
    text = check_header_text(value, field=field, max_length=998)
    if not _ANY_MESSAGE_ID.match(text):
        raise InvalidInput(f"Invalid Message-ID {text[:80]!r} in {field}: expected "
                           "<id@domain> with the angle brackets.", field=field)
    return text


def check_mail(mail: OutgoingMail) -> None:
    """Raise InvalidInput, naming the field, for anything in `mail` that cannot be sent
    as is."""
    check_header_text(mail.ref, field="ref", max_length=200)
    if not mail.ref.strip():
        raise InvalidInput("The ref is empty; name the mail, such as 'ticket:42'.", field="ref")
    if not mail.to:
        raise InvalidInput("The mail has no recipient; add at least one address to 'to'.",
                           field="to")
    if len(mail.to) + len(mail.cc) > MAX_RECIPIENTS:
        raise InvalidInput(f"The mail has {len(mail.to) + len(mail.cc)} recipients; the "
                           f"maximum is {MAX_RECIPIENTS}.", field="to")
    for name, recipients in (("to", mail.to), ("cc", mail.cc)):
        for index, recipient in enumerate(recipients):
            check_address(recipient.email, field=f"{name}[{index}].email")
            check_header_text(recipient.name, field=f"{name}[{index}].name",
                              max_length=MAX_NAME)
    _check_attachments(mail.attachments)
    check_header_text(mail.subject, field="subject", max_length=MAX_SUBJECT)
    if mail.from_name is not None:
        check_header_text(mail.from_name, field="from_name", max_length=MAX_NAME)
    if mail.reply_to is not None:
        check_address(mail.reply_to.email, field="reply_to.email")
        check_header_text(mail.reply_to.name, field="reply_to.name", max_length=MAX_NAME)
    if mail.in_reply_to is not None:
        check_message_id_syntax(mail.in_reply_to, field="in_reply_to")
    if len(mail.references) > MAX_REFERENCES:
        raise InvalidInput(f"The mail has {len(mail.references)} references; the maximum is "
                           f"{MAX_REFERENCES}.", field="references")
    for index, reference in enumerate(mail.references):
        check_message_id_syntax(reference, field=f"references[{index}]")
    if mail.auto_submitted not in AUTO_SUBMITTED_VALUES:
        raise InvalidInput(f"Invalid auto_submitted {mail.auto_submitted!r}: choose one of "
                           f"{', '.join(AUTO_SUBMITTED_VALUES)}.", field="auto_submitted")
    _check_body(mail.text, field="text")
    if mail.html is not None:
        _check_body(mail.html, field="html")


def _check_attachments(attachments: Sequence[OutgoingAttachment]) -> None:
    total = 0
    for index, item in enumerate(attachments):
        check_header_text(item.filename, field=f"attachments[{index}].filename",
                          max_length=255)
        if not _CONTENT_TYPE.match(item.content_type):
            raise InvalidInput(f"Invalid content type {item.content_type!r} of attachment "
                               f"{index}: expected type/subtype such as text/plain.",
                               field=f"attachments[{index}].content_type")
        total += len(item.data)
    if total > MAX_ATTACHMENT_BYTES:
        raise InvalidInput(f"The attachments add up to {total:,} bytes; the maximum is "
                           f"{MAX_ATTACHMENT_BYTES:,} per mail.", field="attachments")


def _check_body(value: object, *, field: str) -> None:
    if not isinstance(value, str):
        raise InvalidInput(f"The {field} must be text, not {type(value).__name__}.",
                           field=field)
    if len(value) > MAX_BODY:
        raise InvalidInput(f"The {field} is {len(value)} characters long; the maximum is "
                           f"{MAX_BODY}.", field=field)


def compose(mail: OutgoingMail, *, sender: MailAddress, message_id: str) -> bytes:
    """Return `mail` as an RFC 5322 message with CRLF line ends, ready for SMTP.

    The caller checked `mail` with `check_mail`; `sender` is the workspace's From.
    Raises InvalidInput when the sender's name or address cannot be a header value.
    """
    # The sender comes from the mail settings or the workspace name, which `check_mail`
    # does not see, and compat32 writes a line break in a value as it is.
    check_address(sender.email, field="sender.email")
    check_header_text(sender.name, field="sender.name", max_length=MAX_NAME)
    headers = _headers(mail, sender, message_id)
    plain = _plain_message(mail, headers)
    if plain is not None:
        return plain
    # compat32 accepts `Header` values, but typeshed types Message values as str.
    message = cast("Message[str, str | Header]", _body(mail))
    # The content headers that the `email.mime` classes set go after the others, as
    # mail programs write them.
    content_headers = message.items()
    for header_name in dict(content_headers):
        del message[header_name]
    for header_name, value in [*headers, *content_headers]:
        message[header_name] = value
    return message.as_bytes()


def _headers(mail: OutgoingMail, sender: MailAddress,
             message_id: str) -> list[tuple[str, str | Header]]:
    """Return the message's header fields before the content headers, in order."""
    headers: list[tuple[str, str | Header]] = [
        ("From", _address_header("From", [sender])),
        ("To", _address_header("To", mail.to)),
    ]
    if mail.cc:
        headers.append(("Cc", _address_header("Cc", mail.cc)))
    headers += [("Subject", _text_header("Subject", mail.subject.strip())),
                ("Date", format_datetime(utcnow())),
                ("Message-ID", message_id)]
    if mail.reply_to is not None:
        headers.append(("Reply-To", _address_header("Reply-To", [mail.reply_to])))
    if mail.in_reply_to is not None:
        headers.append(("In-Reply-To", mail.in_reply_to))
    references = list(mail.references)
    if mail.in_reply_to is not None and mail.in_reply_to not in references:
        references.append(mail.in_reply_to)
    if references:
        # compat32 folds this ASCII value at the spaces between the Message-IDs.
        headers.append(("References", " ".join(references)))
    if mail.auto_submitted != "no":
        headers.append(("Auto-Submitted", mail.auto_submitted))
        # Tells vacation responders not to reply (Microsoft's X-Auto-Response-Suppress;
        # RFC 3834 section 5 covers Auto-Submitted), so automatic mail causes no loops.
        headers.append(("X-Auto-Response-Suppress", "All"))
    return headers


def _plain_message(mail: OutgoingMail, headers: list[tuple[str, str | Header]]) -> bytes | None:
    """Return the bytes of a mail that is one text/plain part, or None.

    The mail qualifies when every header line is printable ASCII within the line limit
    and the body goes out as 7bit or 8bit. The `email` package builds any other mail.
    The bytes are the ones `email.mime` and compat32 write, without building their
    object tree. The tests compare both on many values."""
    if mail.html is not None or mail.attachments:
        return None
    lines = []
    for name, value in headers:
        if not isinstance(value, str):
            return None
        line = f"{name}: {value}"
        if len(line) > _MAX_LINE or not _PRINTABLE_ASCII.fullmatch(line):
            return None
        lines.append(line)
    body = _line_text(mail.text).encode()
    if _body_charset_of(body) is not _UTF8_AS_IS:
        return None
    lines += ['Content-Type: text/plain; charset="utf-8"', "MIME-Version: 1.0",
              f"Content-Transfer-Encoding: {'7bit' if body.isascii() else '8bit'}", "", ""]
    return "\r\n".join(lines).encode("ascii") + body.replace(b"\n", b"\r\n")


def _body(mail: OutgoingMail) -> Message:
    """Return the MIME tree of the body: text/plain, multipart/alternative with the HTML
    part, and multipart/mixed around either when there are attachments."""
    body: Message = _text_part(mail.text, "plain")
    if mail.html is not None:
        parts = [_nested(body), _nested(_text_part(mail.html, "html"))]
        body = MIMEMultipart("alternative", _subparts=parts, policy=_POLICY)
    if mail.attachments:
        parts = [_nested(body), *(_nested(_attachment_part(item)) for item in mail.attachments)]
        body = MIMEMultipart("mixed", _subparts=parts, policy=_POLICY)
    return body


def _nested(part: Message) -> Message:
    # RFC 2045 needs MIME-Version only in the message header, where `email.mime` sets it
    # on the outermost part.
    del part["MIME-Version"]
    return part


def _text_part(value: str, subtype: str) -> MIMEText:
    text = _line_text(value)
    charset = _body_charset_of(text.encode())
    # MIMEText accepts a Charset, which it passes to set_payload, but typeshed lists str.
    return MIMEText(text, subtype, charset, policy=_POLICY)  # type: ignore[arg-type]


def _line_text(value: str) -> str:
    """Return a body as `_body_text` cleans it, ending with a line break."""
    text = _body_text(value)
    return text if text.endswith("\n") else text + "\n"


def _body_charset_of(body: bytes) -> Charset:
    """Return the UTF-8 charset whose body encoding suits `body`, the UTF-8 text.

    This follows the choice of `email.contentmanager` for `set_content`: 7bit or 8bit
    while every line fits in 78 octets, else quoted-printable for mostly ASCII text
    and base64 when that is shorter (judged on the first 10 lines). Encoded lines are
    at most 76 characters, so no line reaches the 998-octet limit of RFC 5322.
    """
    lines = body.splitlines()
    if max(map(len, lines), default=0) <= _MAX_LINE:
        return _UTF8_AS_IS
    sample = b"".join(lines[:10])
    base64_length = 4 * -(-len(sample) // 3)
    if quoprimime.body_length(sample) > base64_length:
        return _UTF8_BASE64
    return _UTF8_QUOTED_PRINTABLE


def _attachment_part(item: OutgoingAttachment) -> MIMEBase:
    maintype, _, subtype = item.content_type.partition("/")
    part = MIMEBase(maintype, subtype, policy=_POLICY)
    part.set_payload(item.data)
    encode_base64(part)
    filename = item.filename.strip() or "attachment"
    # compat32 writes a non-ASCII file name as an RFC 2231 `filename*` parameter. An
    # ASCII name that looks like an RFC 2047 encoded word is written that way too, or a
    # receiver could decode it to other text.
    lookalike = filename.isascii() and "=?" in filename
    part.add_header(
        "Content-Disposition",
        "attachment",
        filename=("utf-8", "", filename) if lookalike else filename,
    )
    value = part["Content-Disposition"]
    # compat32 cannot split a long parameter, so the SMTP policy refolds the value, with
    # RFC 2231 continuations (filename*0*, filename*1*, ...) for a non-ASCII name.
    # compat32 then keeps those line breaks as they are.
    # NOTE: a lookalike name stays on one line of at most 815 octets, because the SMTP
    # policy would write it back as a plain quoted string when it fits on one line.
    if not lookalike and len(f"Content-Disposition: {value}") > _MAX_LINE:
        folded = SMTP.fold("Content-Disposition", value)
        part.replace_header(
            "Content-Disposition", folded[len("Content-Disposition: ") : -len(SMTP.linesep)]
        )
    return part


def _address_header(name: str, addresses: Sequence[MailAddress]) -> str | Header:
    """Return an address list header: ASCII display names quoted by `formataddr` where
    they contain specials, other names as RFC 2047 encoded words.

    An all-ASCII list is returned as text, which compat32 folds like a `Header` of one
    ASCII chunk."""
    if not any(_needs_encoding(address.name.strip()) for address in addresses):
        return ", ".join(formataddr((address.name.strip(), address.email))
                         for address in addresses)
    header = Header(header_name=name)
    # `Header` joins consecutive chunks of one charset with a space, so ASCII text is
    # collected here and appended once before each encoded name.
    ascii_text = ""
    for address in addresses:
        if ascii_text:
            ascii_text += ", "
        display_name = address.name.strip()
        if _needs_encoding(display_name):
            if ascii_text:
                header.append(ascii_text, "us-ascii")
            header.append(display_name, _UTF8_AS_IS)
            ascii_text = f" <{address.email}>"
        else:
            ascii_text += formataddr((display_name, address.email))
    header.append(ascii_text, "us-ascii")
    return header


def _text_header(name: str, value: str) -> str | Header:
    """Return an unstructured header that stays readable when ASCII (as text, which
    compat32 folds) and is RFC 2047 encoded otherwise."""
    # `Header` cannot split a word, and it moves a first word that does not fit after
    # the header name to a line of its own, which parsers read back with a leading
    # space. Encoded words can be split anywhere, so such text is encoded.
    longest_word = max(map(len, value.split()), default=0)
    if _needs_encoding(value) or longest_word > _MAX_LINE - len(f"{name}: "):
        return Header(value, _UTF8_AS_IS, header_name=name)
    return value


def _needs_encoding(value: str) -> bool:
    # An ASCII value containing "=?" is encoded too: a receiver decodes text that looks
    # like an encoded word, so "=?utf-8?q?Hi=0D=0ABcc:...?=" would reach it as a line
    # break. Encoding it makes the receiver read back the literal text.
    return not value.isascii() or "=?" in value


def _body_text(value: str) -> str:
    """Return the body with bare CR and other control characters removed and line ends
    normalized, so a body cannot end the SMTP DATA section early or break the MIME
    structure."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _BODY_CONTROL.sub("", value)


class MessageIdSigner:
    """Make and verify the portal's signed Message-IDs."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the Message-ID key must be at least 32 bytes; derive it with "
                             "derive_key()")
        self._key = key

    def new(self, tenant_id: int, domain: str) -> str:
        # 80 random bits and a 96-bit signature keep the header on one line of at most 78
        # characters for short domains, so mail programs need not unfold it.
        random_part = secrets.token_hex(10)
        signature = self._signature(tenant_id, random_part)
        return f"<{random_part}.{tenant_id}.{signature}@{domain}>"

    def tenant_of(self, message_id: str) -> int | None:
        """Return the tenant a Message-ID of ours was made for, or None when it is not
        ours (malformed, forged or signed with another key). The domain is not signed, so
        IDs stay valid when a workspace changes its From domain."""
        match = _MESSAGE_ID.match(message_id.strip()) if isinstance(message_id, str) else None
        if match is None:
            return None
        random_part, tenant, signature = match[1], int(match[2]), match[3]
        if not hmac.compare_digest(signature, self._signature(tenant, random_part)):
            return None
        return tenant

    def _signature(self, tenant_id: int, random_part: str) -> str:
        message = f"{tenant_id}.{random_part}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:24]


def derive_key(secret_key: str, purpose: str) -> bytes:
    """Return a key for one purpose, derived from the portal's secret key with HMAC, so
    that the secret itself never signs anything directly."""
    return hmac.new(secret_key.encode(), f"miportal-{purpose}".encode(),
                    hashlib.sha256).digest()
