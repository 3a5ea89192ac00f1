"""Hard limits on a raw message, checked by a linear scan before the message is parsed.

The scan follows MIME boundaries the way a parser would, but only counts: it finds the
header block, the number of body parts and how deeply multiparts and attached messages
nest. A message over a limit is rejected whole with `MailLimitExceeded`, so that one
message cannot make the parser use unbounded time, memory or recursion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.errors import PortalError

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_HEADER_BYTES = 256 * 1024
MAX_PARTS = 1000
MAX_DEPTH = 20

_BOUNDARY = re.compile(rb"""boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))""",
                       re.IGNORECASE)
_CONTENT_TYPE = re.compile(rb"^content-type\s*:\s*([a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+)",
                           re.IGNORECASE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass(frozen=True)
class MailLimits:
    """The hard limits of one parse, in bytes and counts."""

    max_bytes: int = MAX_MESSAGE_BYTES
    max_header_bytes: int = MAX_HEADER_BYTES
    max_parts: int = MAX_PARTS
    max_depth: int = MAX_DEPTH


class MailLimitExceeded(PortalError):
    """A message over a hard limit; `reason` names the limit for logs and SMTP replies."""

    code = "mail_limit_exceeded"
    status = 413

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Shape:
    """What the scan counted."""

    header_bytes: int
    parts: int
    depth: int


def check_limits(raw: bytes, limits: MailLimits) -> Shape:
    """Return the message's shape, or raise MailLimitExceeded for the first limit it
    exceeds: total size, header block, then part count and nesting depth."""
    if len(raw) > limits.max_bytes:
        raise MailLimitExceeded(
            f"The message is {len(raw):,} bytes; the maximum is {limits.max_bytes:,}.",
            reason="size")
    end = _HEADER_END.search(raw, 0, limits.max_header_bytes + 4)
    header_bytes = end.start() if end else len(raw)
    if header_bytes > limits.max_header_bytes:
        raise MailLimitExceeded(
            f"The header block is over {limits.max_header_bytes:,} bytes; the maximum is "
            f"{limits.max_header_bytes:,}.", reason="header_size")
    return _scan_structure(raw, limits, header_bytes)


def _scan_structure(raw: bytes, limits: MailLimits, header_bytes: int) -> Shape:
    # Each stack entry is a multipart's boundary, or None for an attached message whose
    # headers are being read. A delimiter line closes everything opened inside it.
    stack: list[bytes | None] = []
    in_headers = True
    header_line = b""
    pending_boundary: bytes | None = None
    pending_message = False
    parts = 1
    depth = 0
    for line in raw.splitlines():
        if in_headers:
            if line[:1] in (b" ", b"\t"):
                header_line += line
                continue
            pending_boundary, pending_message = _inspect_header(
                header_line, pending_boundary, pending_message)
            header_line = line
            if line.strip():
                continue
            in_headers = False
            if pending_boundary is not None:
                stack.append(pending_boundary)
            elif pending_message:
                stack.append(None)
                in_headers = True
            pending_boundary, pending_message, header_line = None, False, b""
            depth = max(depth, len(stack))
            if depth > limits.max_depth:
                raise MailLimitExceeded(
                    f"MIME parts nest more than {limits.max_depth} levels deep.",
                    reason="depth")
            continue
        if not line.startswith(b"--"):
            continue
        found = _boundary_level(stack, line)
        if found is None:
            continue
        level, closing = found
        del stack[level + (0 if closing else 1):]
        if not closing:
            parts += 1
            in_headers = True
            if parts > limits.max_parts:
                raise MailLimitExceeded(
                    f"The message has more than {limits.max_parts:,} MIME parts.",
                    reason="parts")
    return Shape(header_bytes=header_bytes, parts=parts, depth=depth)


def _inspect_header(line: bytes, boundary: bytes | None,
                    message: bool) -> tuple[bytes | None, bool]:
    match = _CONTENT_TYPE.match(line)
    if match is None:
        return boundary, message
    content_type = match.group(1).lower()
    if content_type.startswith(b"multipart/"):
        found = _BOUNDARY.search(line)
        if found:
            return found.group(1) or found.group(2), False
    return None, content_type in (b"message/rfc822", b"message/global")


def _boundary_level(stack: list[bytes | None], line: bytes) -> tuple[int, bool] | None:
    """Return the stack level of the boundary that `line` delimits and whether it is the
    closing delimiter, or None when the line is ordinary body text."""
    marker = line[2:].rstrip()
    for level in range(len(stack) - 1, -1, -1):
        boundary = stack[level]
        if boundary is None:
            continue
        if marker == boundary:
            return level, False
        if marker == boundary + b"--":
            return level, True
    return None
