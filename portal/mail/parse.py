"""A defensive parser for inbound mail: raw bytes in, a frozen `ParsedMail` out.

`parse_mail` raises only `MailLimitExceeded`, for a message over a hard limit (size,
header block, part count, nesting depth), and checks those limits with a linear scan
before it parses. Bad content never raises: each header and each MIME part is read on
its own, and whatever was wrong with it is recorded in `ParsedMail.defects`.

The standard library's parser runs with the `compat32` policy, which accepts anything
and keeps raw values, and this module decodes every value itself, so that a bad charset,
encoded word or address in one field cannot spoil the others.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import BytesParser

from portal.mail.parse_auto import (
    Bounce,
    BounceRecipient,
    automatic_reasons,
    is_out_of_office,
    looks_like_bounce,
    parse_delivery_status,
)
from portal.mail.parse_headers import (
    Address,
    clean_line,
    decode_words,
    header_text,
    message_ids,
    parse_addresses,
    parse_date,
    parse_message_id,
)
from portal.mail.parse_limits import MailLimitExceeded, MailLimits, check_limits
from portal.mail.parse_quotes import split_quotes
from portal.mail.parse_text import (
    decode_bytes,
    decode_surrogates,
    html_charset,
    html_to_text,
    sanitize_html,
    unflow,
)

__all__ = [
    "Address", "Bounce", "BounceRecipient", "MailAttachment", "MailLimitExceeded",
    "MailLimits", "ParsedMail", "parse_mail",
]

logger = logging.getLogger(__name__)

MAX_FILENAME = 255
MAX_HEADERS = 2000
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f<>:\"|?*]+")
_SINGLE_HEADERS = ("from", "to", "cc", "subject", "date", "message-id", "in-reply-to",
                   "reply-to")


@dataclass(frozen=True)
class MailAttachment:
    """A non-body part: its file name (never a path), content type without parameters,
    decoded bytes, Content-ID without angle brackets, and whether it is shown inline."""

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class ParsedMail:
    """One inbound message, decoded. `text` is the whole plain-text body; `text_visible`,
    `text_quoted` and `signature` split it into the new text, the quoted history and the
    signature. `html` is sanitized and may reference inline attachments as `cid:`."""

    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    from_: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str
    date: datetime | None
    text: str
    html: str | None
    text_visible: str
    text_quoted: str
    signature: str
    attachments: tuple[MailAttachment, ...]
    headers: tuple[tuple[str, str], ...]
    defects: tuple[str, ...]
    auto_reasons: tuple[str, ...]
    bounce: Bounce | None
    is_out_of_office: bool
    size: int

    @property
    def is_automatic(self) -> bool:
        """Whether an app must not reply automatically (RFC 3834), or count the message
        as a person's reply: marked automatic, a bounce, or an out-of-office reply."""
        return bool(self.auto_reasons) or self.bounce is not None or self.is_out_of_office

    def header(self, name: str) -> str | None:
        """Return the first decoded value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


@dataclass
class _Body:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[MailAttachment] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    bounce: Bounce | None = None

    def merge(self, other: _Body, *, text: bool = True) -> None:
        if text:
            self.plain.extend(other.plain)
            self.html.extend(other.html)
        self.attachments.extend(other.attachments)
        self.forwarded.extend(other.forwarded)
        self.bounce = self.bounce or other.bounce


def parse_mail(raw: bytes, *, limits: MailLimits | None = None) -> ParsedMail:
    """Parse one RFC 5322 message. Raises MailLimitExceeded when it is over a limit."""
    limits = limits or MailLimits()
    check_limits(raw, limits)
    try:
        message = BytesParser(policy=policy.compat32).parsebytes(raw)
    except RecursionError:
        raise MailLimitExceeded("MIME parts nest too deeply to parse.", reason="depth") from None
    defects: list[str] = []
    headers = _read_headers(message, defects)
    body = _Body()
    _walk(message, body, defects, depth=0, max_depth=limits.max_depth, in_related=False)
    return _assemble(message, headers, body, defects, size=len(raw))


def _read_headers(message: Message, defects: list[str]) -> list[tuple[str, str]]:
    """Return every header's name and decoded value, and note duplicated single fields."""
    headers: list[tuple[str, str]] = []
    raw_items = list(message.raw_items())
    for name, value in raw_items[:MAX_HEADERS]:
        clean_name = clean_line(decode_surrogates(str(name)))[:200]
        try:
            headers.append((clean_name, header_text(str(value), defects, header=clean_name)))
        except Exception:  # One broken header must not sink the message.
            logger.warning("Skipped unreadable header %r", clean_name, exc_info=True)
            defects.append(f"{clean_name}: unreadable header")
    if len(raw_items) > MAX_HEADERS:
        defects.append(f"more than {MAX_HEADERS} headers; the rest were ignored")
    for name in _SINGLE_HEADERS:
        count = sum(1 for key, _ in headers if key.lower() == name)
        if count > 1:
            defects.append(f"{count} {name} headers; the first one is used")
    defects.extend(_defect_texts(message, "message"))
    return headers


def _raw(message: Message, name: str) -> str | None:
    return next((str(value) for key, value in message.raw_items() if key.lower() == name), None)


def _raw_all(message: Message, name: str) -> list[str]:
    return [str(value) for key, value in message.raw_items() if key.lower() == name]


def _assemble(message: Message, headers: list[tuple[str, str]], body: _Body,
              defects: list[str], *, size: int) -> ParsedMail:
    subject = header_text(_raw(message, "subject"), [], header="Subject")
    from_list = parse_addresses(_raw_all(message, "from")[:1], defects, header="From")
    message_id = parse_message_id(_raw(message, "message-id"), defects, header="Message-ID")
    if message_id is None and _raw(message, "message-id") is None:
        defects.append("missing Message-ID")
    html = "\n".join(sanitize_html(item) for item in body.html) or None
    text = "\n\n".join(item for item in body.plain if item.strip())
    if not text and html:
        text = html_to_text(html)
    text = "\n\n".join(item for item in (text, *body.forwarded) if item)
    split = split_quotes(text)
    attachments = _mark_inline(body.attachments, html)

    names = [name.lower() for name, _ in headers]

    def lookup(name: str) -> str | None:
        return next((value for key, value in headers if key.lower() == name), None)

    return_path = _raw(message, "return-path")
    reasons = automatic_reasons(lookup, names, return_path_empty=return_path is not None
                                and return_path.strip().replace(" ", "") == "<>")
    sender = from_list[0].address if from_list else None
    bounce = body.bounce
    if bounce is None and looks_like_bounce(sender, subject):
        bounce = Bounce(recipients=(), original_message_id=None, is_standard=False)
    return ParsedMail(
        message_id=message_id,
        in_reply_to=parse_message_id(_raw(message, "in-reply-to"), defects,
                                     header="In-Reply-To"),
        references=tuple(message_ids(" ".join(_raw_all(message, "references")))),
        from_=from_list[0] if from_list else None,
        to=parse_addresses(_raw_all(message, "to"), defects, header="To"),
        cc=parse_addresses(_raw_all(message, "cc"), defects, header="Cc"),
        reply_to=parse_addresses(_raw_all(message, "reply-to"), defects, header="Reply-To"),
        subject=subject,
        date=parse_date(_raw(message, "date"), defects),
        text=text, html=html, text_visible=split.visible, text_quoted=split.quoted,
        signature=split.signature, attachments=tuple(attachments), headers=tuple(headers),
        defects=tuple(dict.fromkeys(defects)), auto_reasons=tuple(reasons), bounce=bounce,
        is_out_of_office=bounce is None and is_out_of_office(lookup, names, subject),
        size=size,
    )


def _walk(part: Message, body: _Body, defects: list[str], *, depth: int, max_depth: int,
          in_related: bool) -> None:
    """Add a part's text, HTML and attachments to `body`; a part that fails is recorded
    as a defect and skipped, and its siblings are still read."""
    content_type = _content_type(part)
    if depth > max_depth:
        defects.append(f"{content_type} part nested deeper than {max_depth}; skipped")
        return
    try:
        if content_type in ("message/rfc822", "message/global"):
            _forwarded(part, body, defects, depth=depth, max_depth=max_depth)
        elif part.get_content_maintype() == "multipart":
            _multipart(part, body, defects, depth=depth, max_depth=max_depth)
        elif isinstance(part.get_payload(), list):
            body.attachments.append(_attachment(part, _serialize(part), in_related))
        else:
            _leaf(part, body, defects, in_related=in_related)
    except Exception:  # One broken part must not sink the message.
        logger.warning("Skipped unreadable %s part", content_type, exc_info=True)
        defects.append(f"{content_type} part: unreadable, skipped")
    if depth > 0:
        defects.extend(_defect_texts(part, content_type))


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except (ValueError, TypeError, LookupError, UnicodeError):
        return "application/octet-stream"


def _multipart(part: Message, body: _Body, defects: list[str], *, depth: int,
               max_depth: int) -> None:
    children = part.get_payload()
    if not isinstance(children, list):
        # A multipart without a usable boundary: the parser keeps its body as text.
        _leaf(part, body, defects, in_related=False)
        return
    subtype = part.get_content_subtype()
    if subtype == "report" and str(part.get_param("report-type", "")).lower() in (
            "delivery-status", "global-delivery-status"):
        body.bounce = parse_delivery_status(part, defects)
    if subtype != "alternative":
        for child in children:
            if isinstance(child, Message):
                _walk(child, body, defects, depth=depth + 1, max_depth=max_depth,
                      in_related=subtype == "related")
        return
    # multipart/alternative: the plain text of the last alternative that has one, and
    # the HTML of the last one with HTML; attachments (inline images) of all of them.
    choices = []
    for child in children:
        if isinstance(child, Message):
            choice = _Body()
            _walk(child, choice, defects, depth=depth + 1, max_depth=max_depth,
                  in_related=False)
            choices.append(choice)
    with_plain = [choice for choice in choices if choice.plain]
    with_html = [choice for choice in choices if choice.html]
    if with_plain:
        body.plain.extend(with_plain[-1].plain)
    if with_html:
        body.html.extend(with_html[-1].html)
    for choice in choices:
        body.merge(choice, text=False)


def _leaf(part: Message, body: _Body, defects: list[str], *, in_related: bool) -> None:
    content_type = part.get_content_type()
    disposition = part.get_content_disposition()
    is_body = (content_type in ("text/plain", "text/html") and disposition != "attachment"
               and not _raw_filename(part))
    if not is_body:
        body.attachments.append(_attachment(part, _payload(part), in_related))
        return
    text = _part_text(part, defects)
    if content_type == "text/html":
        body.html.append(text)
    else:
        body.plain.append(text)


def _payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _part_text(part: Message, defects: list[str]) -> str:
    data = _payload(part)
    charset = part.get_content_charset()
    if charset is None and part.get_content_type() == "text/html":
        charset = html_charset(data)
    text, defect = decode_bytes(data, charset)
    if defect:
        defects.append(f"{part.get_content_type()} part: {defect}")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if str(part.get_param("format", "")).lower() == "flowed":
        text = unflow(text, delete_space=str(part.get_param("delsp", "")).lower() == "yes")
    return text


def _forwarded(part: Message, body: _Body, defects: list[str], *, depth: int,
               max_depth: int) -> None:
    """Keep an attached message as a .eml attachment and add a summary of its headers
    and text to the body, so that search and rules see what was forwarded."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        body.attachments.append(_attachment(part, _payload(part), False))
        return
    inner_defects: list[str] = []
    inner_body = _Body()
    _walk(inner, inner_body, inner_defects, depth=depth + 1, max_depth=max_depth,
          in_related=False)
    defects.extend(f"attached message: {item}" for item in inner_defects)
    subject = header_text(_raw(inner, "subject"), inner_defects, header="Subject")
    lines = ["---------- Forwarded message ----------"]
    for label, name in (("From", "from"), ("Date", "date"), ("Subject", "subject"),
                        ("To", "to")):
        value = header_text(_raw(inner, name), inner_defects, header=label)
        if value:
            lines.append(f"{label}: {value}")
    text = "\n\n".join(item for item in inner_body.plain if item.strip())
    if not text and inner_body.html:
        text = html_to_text(sanitize_html("\n".join(inner_body.html)))
    body.forwarded.append("\n".join(lines) + "\n\n" + text.strip())
    name = _safe_filename(subject or "message")
    body.attachments.append(MailAttachment(
        filename=name if name.lower().endswith(".eml") else name[:MAX_FILENAME - 4] + ".eml",
        content_type="message/rfc822", data=_serialize(inner),
        content_id=_content_id(part), inline=False))


def _serialize(message: Message) -> bytes:
    try:
        return message.as_bytes(policy=policy.compat32)
    except (ValueError, TypeError, LookupError, UnicodeError):
        logger.warning("Could not serialize an attached message; kept its text", exc_info=True)
        return str(message).encode("utf-8", "surrogateescape")


def _attachment(part: Message, data: bytes, in_related: bool) -> MailAttachment:
    content_type = part.get_content_type()
    filename = _filename(part)
    if not filename:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        filename = f"attachment{extension}"
    content_id = _content_id(part)
    disposition = part.get_content_disposition()
    inline = disposition == "inline" or (disposition is None and in_related
                                         and content_id is not None)
    return MailAttachment(filename=filename, content_type=content_type, data=data,
                          content_id=content_id, inline=inline)


def _raw_filename(part: Message) -> str | None:
    try:
        return part.get_filename() or part.get_param("name")  # type: ignore[return-value]
    except (ValueError, LookupError, TypeError, IndexError, UnicodeError):
        return None


def _filename(part: Message) -> str:
    """Return the part's file name from RFC 2231 or RFC 2047 parameters, made safe."""
    raw = _raw_filename(part)
    if isinstance(raw, tuple):
        # An RFC 2231 `name*=` parameter of Content-Type comes back undecoded.
        raw = str(raw[2])
    if not raw:
        return ""
    return _safe_filename(decode_words(str(raw), [], header="filename"))


def _safe_filename(name: str) -> str:
    """Return a file name without folders, control or shell-special characters."""
    name = decode_surrogates(name).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_FILENAME.sub("_", clean_line(name)).strip(" .")
    return name[:MAX_FILENAME]


def _content_id(part: Message) -> str | None:
    value = _raw(part, "content-id")
    if value is None:
        return None
    text = clean_line(decode_surrogates(value)).strip().strip("<>").strip()
    return text[:250] or None


def _mark_inline(attachments: list[MailAttachment], html: str | None) -> list[MailAttachment]:
    """Mark attachments that the HTML shows by `cid:` as inline."""
    if not html:
        return attachments
    result = []
    for item in attachments:
        referenced = item.content_id is not None and f"cid:{item.content_id}" in html
        if referenced and not item.inline:
            item = MailAttachment(item.filename, item.content_type, item.data,
                                  item.content_id, inline=True)
        result.append(item)
    return result


def _defect_texts(part: Message, where: str) -> list[str]:
    texts = []
    for defect in getattr(part, "defects", []):
        description = str(defect) or (type(defect).__doc__ or "").strip().split("\n")[0]
        texts.append(f"{where}: {type(defect).__name__}"
                     + (f" ({description})" if description else ""))
    return texts
