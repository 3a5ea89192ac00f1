"""Header values: RFC 2047 encoded words, addresses, Message-IDs and dates.

Every function takes the raw value as the parser stored it (8-bit bytes as surrogate
escapes) and returns clean text, never raising for bad content. Problems are appended to
a `defects` list as readable strings.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime

from portal.mail.parse_text import decode_bytes, decode_surrogates

MAX_HEADER_TEXT = 4000
MAX_REFERENCES = 100
MAX_ADDRESSES = 500
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
# Control characters, including CR and LF that an encoded word may carry, and the
# Unicode line and paragraph separators: none of them belongs in a one-line header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,900})>")
_BARE_MESSAGE_ID = re.compile(r"^[^<>\s@]{1,450}@[^<>\s@]{1,450}$")
# A pragmatic shape check of a mailbox: one @, no spaces, quotes or control characters.
_ADDRESS = re.compile(r"^[^@\s\"<>()\[\],;:\\\x00-\x1f\x7f]{1,64}@[A-Za-z0-9.-]{1,253}$")


@dataclass(frozen=True)
class Address:
    """One mailbox of an address header: the display name (may be empty) and the address,
    lowercased in its domain part."""

    name: str
    address: str

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


def unfold(value: str) -> str:
    return _FOLD.sub("", value)


def clean_line(text: str) -> str:
    """Return `text` on one line, control characters turned into spaces, and capped."""
    return " ".join(_CONTROL.sub(" ", text).split())[:MAX_HEADER_TEXT]


def decode_words(value: str, defects: list[str], *, header: str) -> str:
    """Decode RFC 2047 encoded words. Adjacent words of one charset are joined as bytes
    first, because senders split multibyte characters across them; the whitespace
    between adjacent encoded words is dropped, as RFC 2047 section 6.2 specifies."""
    value = decode_surrogates(unfold(value))
    pieces: list[str] = []
    pending: list[tuple[str, bytes]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position:match.start()]
        if not (pending and between.strip() == ""):
            _flush(pending, pieces, defects, header)
            pieces.append(between)
        charset, encoding, payload = match.groups()
        data = _decode_word(payload, encoding.lower())
        if data is None:
            defects.append(f"{header}: invalid encoded word {match.group(0)[:80]!r}")
            _flush(pending, pieces, defects, header)
            pieces.append(match.group(0))
        elif pending and pending[-1][0] == charset.lower():
            pending[-1] = (pending[-1][0], pending[-1][1] + data)
        else:
            pending.append((charset.lower(), data))
        position = match.end()
    _flush(pending, pieces, defects, header)
    pieces.append(value[position:])
    return "".join(pieces)


def _decode_word(payload: str, encoding: str) -> bytes | None:
    try:
        if encoding == "b":
            padded = payload + "=" * (-len(payload) % 4)
            return base64.b64decode(padded.encode("ascii"), validate=False)
        return quopri.decodestring(payload.replace("_", " ").encode("ascii"), header=False)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def _flush(pending: list[tuple[str, bytes]], pieces: list[str], defects: list[str],
           header: str) -> None:
    for charset, data in pending:
        text, defect = decode_bytes(data, charset)
        if defect:
            defects.append(f"{header}: {defect}")
        pieces.append(text)
    pending.clear()


def header_text(value: str | None, defects: list[str], *, header: str) -> str:
    """Return an unstructured header (Subject and the like) decoded, on one line."""
    if value is None:
        return ""
    return clean_line(decode_words(value, defects, header=header))


def parse_addresses(values: list[str], defects: list[str], *, header: str) -> tuple[Address, ...]:
    """Return the valid mailboxes of one or more address headers; group syntax is
    flattened and invalid entries are left out with a defect each."""
    raw = [decode_surrogates(unfold(value)) for value in values]
    try:
        pairs = getaddresses(raw)
    except (ValueError, IndexError) as error:
        defects.append(f"{header}: unparsable address list ({error})")
        return ()
    result: list[Address] = []
    for name, address in pairs[:MAX_ADDRESSES]:
        address = address.strip()
        if not name and not address:
            continue
        if _ENCODED_WORD.search(address):
            defects.append(f"{header}: encoded word in address {address[:80]!r}")
            continue
        local, _, domain = address.rpartition("@")
        if not _ADDRESS.match(f"{local}@{domain}"):
            defects.append(f"{header}: invalid address {clean_line(address)[:120]!r}")
            continue
        address = f"{local}@{domain.lower()}"
        display = clean_line(decode_words(name, defects, header=header)).strip("\"' ")
        result.append(Address(name=display, address=address))
    if len(pairs) > MAX_ADDRESSES:
        defects.append(f"{header}: {len(pairs)} addresses, kept the first {MAX_ADDRESSES}")
    return tuple(result)


def parse_message_id(value: str | None, defects: list[str], *, header: str) -> str | None:
    """Return the first Message-ID of a header as `<left@right>`, or None."""
    if value is None:
        return None
    ids = message_ids(value)
    if ids:
        return ids[0]
    bare = clean_line(decode_surrogates(value)).strip()
    if _BARE_MESSAGE_ID.match(bare):
        defects.append(f"{header}: Message-ID without angle brackets")
        return f"<{bare}>"
    defects.append(f"{header}: invalid Message-ID {bare[:120]!r}")
    return None


def message_ids(value: str) -> list[str]:
    """Return every `<...>` Message-ID in a header such as References, in order, without
    duplicates, keeping the last MAX_REFERENCES (the newest)."""
    found: list[str] = []
    for match in _MESSAGE_ID.finditer(unfold(decode_surrogates(value))):
        if _CONTROL.search(match.group(1)):
            continue
        normalized = f"<{match.group(1)}>"
        if normalized not in found:
            found.append(normalized)
    return found[-MAX_REFERENCES:]


def parse_date(value: str | None, defects: list[str]) -> datetime | None:
    """Return the Date header as an aware UTC datetime; `-0000` counts as UTC."""
    if value is None:
        return None
    text = clean_line(decode_surrogates(value))
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append(f"Date: invalid date {text[:80]!r}")
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        defects.append(f"Date: date out of range {text[:80]!r}")
        return None
