"""Splitting a plain-text body into the new text, the quoted history and the signature.

These are heuristics for the patterns that common mail clients write. A reply whose new
text is interleaved with quoted lines is left whole, because cutting at the first quote
would hide the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Attribution lines that clients put above the quoted message, in the languages most
# often seen, such as "On Mon, 3 Mar 2025 at 10:00, Ann <ann@example.com> wrote:".
_ATTRIBUTION = re.compile(
    r"^(on\b.{0,300}\bwrote:"
    r"|am\b.{0,300}\bschrieb.{0,200}:"
    r"|le\b.{0,300}\ba [ée]crit ?:"
    r"|el\b.{0,300}\bescribi[óo] ?:"
    r"|il\b.{0,300}\bha scritto ?:"
    r"|op\b.{0,300}\bschreef.{0,200}:)\s*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^\s*(-{2,}\s*(original message|urspr[üu]ngliche nachricht|message d'origine"
    r"|forwarded message|weitergeleitete nachricht)\s*-{2,}"
    r"|begin forwarded message:"
    r"|_{20,})\s*$",
    re.IGNORECASE,
)
_OUTLOOK_FROM = re.compile(r"^\s*\*?(from|von|de|da)\s*:\*?\s", re.IGNORECASE)
_OUTLOOK_FIELD = re.compile(r"^\s*\*?(sent|date|gesendet|datum|envoy[ée]|to|an|[àa]|subject"
                            r"|betreff|objet)\s*:", re.IGNORECASE)
_SIGNATURE_LINES = 12


@dataclass(frozen=True)
class SplitText:
    """A body split in three; joined in order they contain every line of the original."""

    visible: str
    quoted: str
    signature: str


def split_quotes(text: str) -> SplitText:
    lines = text.split("\n")
    cut = _history_start(lines)
    body, history = lines[:cut], lines[cut:]
    signature_at = _signature_start(body)
    signature = body[signature_at:]
    visible = body[:signature_at]
    return SplitText(visible="\n".join(visible).strip(), quoted="\n".join(history).strip(),
                     signature="\n".join(signature).strip())


def _history_start(lines: list[str]) -> int:
    """Return the index of the first line of quoted history, or len(lines)."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if _SEPARATOR.match(stripped) or _is_attribution(lines, index):
            return index
        if _OUTLOOK_FROM.match(line) and _outlook_block(lines, index):
            return index
    return _trailing_quote_start(lines)


def _is_attribution(lines: list[str], index: int) -> bool:
    line = lines[index].strip()
    if _ATTRIBUTION.match(line):
        return True
    # Clients wrap a long attribution line, so try it joined with the next line.
    if index + 1 < len(lines) and not line.startswith(">"):
        joined = f"{line} {lines[index + 1].strip()}"
        return bool(line) and bool(_ATTRIBUTION.match(joined))
    return False


def _outlook_block(lines: list[str], index: int) -> bool:
    """Return whether a "From:" line starts Outlook's header block of a quoted message:
    at least two of Sent, To and Subject in the next four lines."""
    following = lines[index + 1:index + 5]
    return sum(1 for line in following if _OUTLOOK_FIELD.match(line)) >= 2


def _trailing_quote_start(lines: list[str]) -> int:
    """Return where a block of "> " lines starts that only blank lines or a signature
    follow, or len(lines) when quotes are interleaved with new text."""
    start: int | None = None
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(">"):
            if start is None:
                start = index
        elif stripped and start is not None:
            if _signature_start(lines[index:]) == 0:
                break
            start = None
    return start if start is not None else len(lines)


def _signature_start(lines: list[str]) -> int:
    """Return the index of the "-- " signature delimiter line (RFC 3676 section 4.3), or
    of a bare "--" in the last few lines, or len(lines)."""
    for index, line in enumerate(lines):
        if line.rstrip("\r") == "-- ":
            return index
    tail = max(0, len(lines) - _SIGNATURE_LINES)
    for index in range(len(lines) - 1, tail - 1, -1):
        if lines[index].strip() == "--":
            return index
    return len(lines)
