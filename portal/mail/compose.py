"""Building outgoing messages safely, and signing the Message-IDs they carry.

Every header value that may come from user text (names, subjects, addresses) is checked
for CR, LF and other control characters before it reaches `email.message.EmailMessage`,
so that no input can add a header or a second message (header injection). Non-ASCII
names and subjects are encoded by the `email` package's SMTP policy (RFC 2047).

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
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Literal

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
    """
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(sender)
    message["To"] = [_address(recipient) for recipient in mail.to]
    if mail.cc:
        message["Cc"] = [_address(recipient) for recipient in mail.cc]
    message["Subject"] = mail.subject.strip()
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id
    if mail.reply_to is not None:
        message["Reply-To"] = _address(mail.reply_to)
    if mail.in_reply_to is not None:
        message["In-Reply-To"] = mail.in_reply_to
    references = list(mail.references)
    if mail.in_reply_to is not None and mail.in_reply_to not in references:
        references.append(mail.in_reply_to)
    if references:
        message["References"] = " ".join(references)
    if mail.auto_submitted != "no":
        message["Auto-Submitted"] = mail.auto_submitted
        # Tells vacation responders not to reply (Microsoft's X-Auto-Response-Suppress;
        # RFC 3834 section 5 covers Auto-Submitted), so automatic mail causes no loops.
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(_body_text(mail.text))
    if mail.html is not None:
        message.add_alternative(_body_text(mail.html), subtype="html")
    for item in mail.attachments:
        maintype, _, subtype = item.content_type.partition("/")
        # The email package encodes a non-ASCII file name as RFC 2231.
        message.add_attachment(item.data, maintype=maintype, subtype=subtype,
                               filename=item.filename.strip() or "attachment")
    return message.as_bytes()


def _address(address: MailAddress) -> Address:
    username, _, domain = address.email.partition("@")
    return Address(display_name=address.name.strip(), username=username, domain=domain)


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
