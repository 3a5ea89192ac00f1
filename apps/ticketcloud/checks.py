"""Input checks shared by TicketCloud's domain functions.

Each `check_*` returns the normalised value or raises InvalidInput with the field name,
the bad value and how to fix it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import TypeVar

from portal.sdk import MAX_ROW_ID, InvalidInput
from ticketcloud.models import MAX_EMAIL, MAX_PERSON_NAME, MAX_SUBJECT

MAX_BODY = 50_000
MAX_TAGS = 20
MAX_TAG = 50
# A pragmatic shape check, the same as the portal's for user accounts; whether mail can
# be delivered there is the mail system's business.
EMAIL_PATTERN = re.compile(r"^[^@\s\x00-\x1f<>\"]{1,64}@[A-Za-z0-9.-]{1,252}\.[A-Za-z]{2,63}$")
TAG_PATTERN = re.compile(rf"^[a-z0-9][a-z0-9_-]{{0,{MAX_TAG - 1}}}$")
# Line breaks and other control characters, which a one-line subject cannot show.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

Choice = TypeVar("Choice", bound=enum.StrEnum)


def check_subject(subject: object) -> str:
    if not isinstance(subject, str):
        raise InvalidInput(f"The subject must be text, not {type(subject).__name__}.",
                           field="subject")
    subject = _CONTROL.sub(" ", subject).strip()
    if not subject:
        raise InvalidInput("The subject is empty; describe the problem in a few words.",
                           field="subject")
    if len(subject) > MAX_SUBJECT:
        raise InvalidInput(f"The subject is {len(subject)} characters; the maximum is "
                           f"{MAX_SUBJECT}.", field="subject")
    return subject


def check_body(body: object, *, field: str = "body") -> str:
    if not isinstance(body, str):
        raise InvalidInput(f"The message must be text, not {type(body).__name__}.", field=field)
    body = body.replace("\x00", "").strip()
    if not body:
        raise InvalidInput("The message is empty; write what you need help with.", field=field)
    if len(body) > MAX_BODY:
        raise InvalidInput(f"The message is {len(body)} characters; the maximum is "
                           f"{MAX_BODY:,}. Shorten it or attach the text as a file.",
                           field=field)
    return body


def check_email(email: object, *, field: str = "email") -> str:
    """Return the address stripped and lowercased."""
    text = email.strip() if isinstance(email, str) else ""
    if len(text) > MAX_EMAIL or not EMAIL_PATTERN.match(text):
        raise InvalidInput(f"Invalid email address {email!r}: expected name@example.com.",
                           field=field)
    return text.lower()


def check_person_name(name: object, *, field: str = "name") -> str:
    """Return a person's display name stripped of control characters; it may be empty."""
    if not isinstance(name, str):
        raise InvalidInput(f"The {field} must be text, not {type(name).__name__}.", field=field)
    name = _CONTROL.sub(" ", name).strip()
    if len(name) > MAX_PERSON_NAME:
        raise InvalidInput(f"The {field} is {len(name)} characters; the maximum is "
                           f"{MAX_PERSON_NAME}.", field=field)
    return name


def check_label(name: object, *, field: str = "name", max_length: int = 100) -> str:
    """Return the name of a team, category or rule: 1 to `max_length` characters."""
    if not isinstance(name, str) or not _CONTROL.sub("", name).strip():
        raise InvalidInput(f"The {field} must be non-empty text, not {name!r}.", field=field)
    name = _CONTROL.sub(" ", name).strip()
    if len(name) > max_length:
        raise InvalidInput(f"The {field} is {len(name)} characters; the maximum is "
                           f"{max_length}.", field=field)
    return name


def check_tags(tags: object, *, field: str = "tags") -> list[str]:
    """Return the tags lowercased, without duplicates, in their first order."""
    if not isinstance(tags, list | tuple):
        raise InvalidInput(f"Tags must be a list of words, not {tags!r}.", field=field)
    normalised: list[str] = []
    for tag in tags:
        word = tag.strip().lower() if isinstance(tag, str) else ""
        if not TAG_PATTERN.match(word):
            raise InvalidInput(
                f"Invalid tag {tag!r}: use 1 to {MAX_TAG} lowercase letters, digits, '-' and "
                "'_', starting with a letter or digit.", field=field)
        if word not in normalised:
            normalised.append(word)
    if len(normalised) > MAX_TAGS:
        raise InvalidInput(f"{len(normalised)} tags given; the maximum is {MAX_TAGS}.",
                           field=field)
    return normalised


def merge_tags(current: Iterable[str], added: Iterable[str]) -> list[str]:
    merged = list(current)
    merged.extend(tag for tag in added if tag not in merged)
    return merged


def check_id(value: object, *, field: str) -> int:
    """Return a row id: a positive integer up to MAX_ROW_ID (booleans are rejected)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ROW_ID:
        raise InvalidInput(f"Invalid {field} {value!r}: expected a positive integer id.",
                           field=field)
    return value


def check_optional_id(value: object, *, field: str) -> int | None:
    return None if value is None else check_id(value, field=field)


def check_choice(choices: type[Choice], value: object, *, field: str) -> Choice:
    if isinstance(value, str):
        try:
            return choices(value)
        except ValueError:
            pass
    allowed = ", ".join(member.value for member in choices)
    raise InvalidInput(f"Invalid {field} {value!r}: choose one of {allowed}.", field=field)
