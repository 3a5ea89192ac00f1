"""Automatic mail: RFC 3834 markers, out-of-office replies and delivery status reports.

An app must never reply to automatic mail automatically, or two systems end up mailing
each other in a loop. The reasons found are kept as readable strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import Message

from portal.mail.parse_headers import clean_line, message_ids
from portal.mail.parse_text import decode_surrogates

_OUT_OF_OFFICE_SUBJECT = re.compile(
    r"^(auto(matic)?[ -]?(reply|response|antwort)\b|auto:|out of (the )?office|"
    r"abwesenheitsnotiz|automatische antwort|r[ée]ponse automatique|absence|"
    r"respuesta autom[áa]tica|risposta automatica|fuera de la oficina|vacation|"
    r"away from (the )?office|i am (currently )?out of)",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver(ed|able)|delivery (status notification|has failed|failure)|"
    r"returned mail|mail delivery (failed|failure|subsystem)|failure notice|"
    r"unzustellbar|non remis)",
    re.IGNORECASE,
)
_OUT_OF_OFFICE_HEADERS = ("x-autoreply", "x-autorespond", "x-auto-reply")
_STATUS_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


@dataclass(frozen=True)
class BounceRecipient:
    """One recipient of a delivery status report (RFC 3464 per-recipient fields)."""

    address: str
    action: str
    status: str
    diagnostic: str


@dataclass(frozen=True)
class Bounce:
    """A delivery status notification, or a message that looks like a bounce without the
    standard report format (then `recipients` may be empty)."""

    recipients: tuple[BounceRecipient, ...]
    original_message_id: str | None
    is_standard: bool

    @property
    def is_permanent(self) -> bool:
        """Whether some recipient failed for good (action failed, status 5.x.x)."""
        return any(item.action == "failed" or item.status.startswith("5")
                   for item in self.recipients)


HeaderLookup = Callable[[str], "str | None"]


def automatic_reasons(header: HeaderLookup, names: Sequence[str], *,
                      return_path_empty: bool) -> list[str]:
    """Return why a message counts as automatic under RFC 3834 and common practice;
    `names` are the lowercased names of every header present."""
    reasons: list[str] = []
    auto_submitted = header("auto-submitted")
    if auto_submitted is not None:
        keyword = auto_submitted.split(";", 1)[0].split("(", 1)[0].strip().lower()
        if keyword != "no":
            reasons.append(f"Auto-Submitted: {keyword or 'empty'}")
    precedence = (header("precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        reasons.append(f"Precedence: {precedence}")
    list_headers = sorted({name for name in names if name.startswith("list-")})
    if list_headers:
        reasons.append(f"mailing list headers ({', '.join(list_headers)})")
    if "x-auto-response-suppress" in names:
        reasons.append("X-Auto-Response-Suppress")
    if return_path_empty:
        reasons.append("empty Return-Path <>")
    reasons.extend(f"{name} header" for name in _OUT_OF_OFFICE_HEADERS if name in names)
    return reasons


def is_out_of_office(header: HeaderLookup, names: Sequence[str], subject: str) -> bool:
    auto_submitted = (header("auto-submitted") or "").strip().lower()
    return (auto_submitted.startswith("auto-replied")
            or any(name in names for name in _OUT_OF_OFFICE_HEADERS)
            or bool(_OUT_OF_OFFICE_SUBJECT.match(subject.strip())))


def looks_like_bounce(sender: str | None, subject: str) -> bool:
    """Return whether a message without a report part still looks like a bounce."""
    return bool(sender and _BOUNCE_SENDER.match(sender)) and bool(
        _BOUNCE_SUBJECT.search(subject))


def parse_delivery_status(report: Message, defects: list[str]) -> Bounce:
    """Read a multipart/report; report-type=delivery-status (RFC 3464): the recipients
    from its message/delivery-status part and the original Message-ID from the returned
    message or headers."""
    recipients: list[BounceRecipient] = []
    original: str | None = None
    for part in report.walk():
        content_type = part.get_content_type()
        if content_type in ("message/delivery-status", "message/global-delivery-status"):
            recipients.extend(_recipients(part, defects))
        elif content_type in ("message/rfc822", "message/global", "text/rfc822-headers"):
            original = original or _original_message_id(part)
    return Bounce(recipients=tuple(recipients), original_message_id=original, is_standard=True)


def _recipients(part: Message, defects: list[str]) -> list[BounceRecipient]:
    payload = part.get_payload()
    blocks = payload if isinstance(payload, list) else []
    if not blocks:
        defects.append("delivery status report without status fields")
    found = []
    for block in blocks[1:]:
        if not isinstance(block, Message):
            continue
        recipient = _field(block, "final-recipient") or _field(block, "original-recipient")
        if not recipient:
            continue
        address = recipient.split(";", 1)[-1].strip().strip("<>").lower()
        status = _field(block, "status")
        match = _STATUS_CODE.search(status)
        diagnostic = _field(block, "diagnostic-code").split(";", 1)[-1].strip()
        found.append(BounceRecipient(address=address[:254],
                                     action=_field(block, "action").lower()[:32],
                                     status=match.group(1) if match else "",
                                     diagnostic=diagnostic[:1000]))
    return found


def _field(block: Message, name: str) -> str:
    for key, value in block.raw_items():
        if key.lower() == name:
            return clean_line(decode_surrogates(str(value)))
    return ""


def _original_message_id(part: Message) -> str | None:
    if part.get_content_type() == "text/rfc822-headers":
        payload = part.get_payload(decode=True)
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        match = re.search(r"^message-id\s*:\s*(.+(?:\r?\n[ \t].*)*)", text,
                          re.IGNORECASE | re.MULTILINE)
        ids = message_ids(match.group(1)) if match else []
        return ids[0] if ids else None
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        return None
    for key, value in inner.raw_items():
        if key.lower() == "message-id":
            ids = message_ids(str(value))
            return ids[0] if ids else None
    return None
