"""Password hashing with argon2id (argon2-cffi defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

import logging
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.errors import InvalidInput

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"The password is {len(password)} characters long; use at least "
            f"{MIN_PASSWORD_LENGTH}.", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"The password is longer than {MAX_PASSWORD_LENGTH} characters; use a shorter one.",
            field="password")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_new_password(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """Return whether `password` matches; a missing hash costs one verification too."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except VerificationError:
        return False
    except InvalidHashError:
        logger.error("Stored password hash has an unknown format; sign-in rejected")
        return False


@cache
def _dummy_hash() -> str:
    """Return the hash verified against when the account does not exist, so that a wrong
    email takes as long as a wrong password and response times do not reveal which
    accounts exist. It is made on first use rather than at import, because hashing takes
    tens of milliseconds that every command importing the settings would pay, such as
    each run of the MTA pipe. The server makes it at start (`prepare_dummy_hash`)."""
    return _hasher.hash("miportal-no-such-account")


def prepare_dummy_hash() -> None:
    """Make the hash that unknown accounts are verified against now. The server calls
    this when it starts, so that its first such sign-in takes as long as any other."""
    _dummy_hash()


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
