"""The message table of the public pages: every key in use exists, and none is unused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ticketcloud.public_text import MESSAGES, format_size, text
from ticketcloud.views import CUSTOMER_STATUS

APP = Path(__file__).resolve().parents[4] / "apps" / "ticketcloud"
# A literal key is the whole first argument, so a prefix such as "rate.score_" ~ score
# does not count. isolated_text takes its key the same way.
LITERAL_KEY = re.compile(r"""\b(?:isolated_)?text\(\s*["']([a-z_]+\.[a-z0-9_]+)["']\s*[,)]""")
# Keys that templates build from a value: "status." ~ status and "rate.score_" ~ score.
BUILT_KEYS = {f"status.{status}" for status in CUSTOMER_STATUS.values()} | {
    f"rate.score_{score}" for score in range(1, 6)}


def used_keys() -> set[str]:
    sources = [*APP.glob("public_*.py"), *(APP / "templates").glob("*.html")]
    return {key for path in sources for key in LITERAL_KEY.findall(path.read_text())}


def test_messages_cover_every_used_key() -> None:
    assert sorted((used_keys() | BUILT_KEYS) - MESSAGES.keys()) == []


def test_messages_has_no_unused_key() -> None:
    assert sorted(MESSAGES.keys() - used_keys() - BUILT_KEYS) == []


def test_text_fills_placeholders() -> None:
    assert text("submitted.number", number=42) == "Your ticket number is #42."


def test_text_unknown_key_raises() -> None:
    with pytest.raises(KeyError):
        text("form.no_such_key")


@pytest.mark.parametrize(("size", "shown"), [
    (0, "0 bytes"), (1023, "1023 bytes"), (1536, "1.5 KiB"), (10 * 1024 * 1024, "10.0 MiB")])
def test_format_size_units(size: int, shown: str) -> None:
    assert format_size(size) == shown
