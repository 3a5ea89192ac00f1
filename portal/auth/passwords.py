"""Password hashing with argon2id (argon2-cffi defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

import logging

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.errors import InvalidInput

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()
# Verified against when the account does not exist, so that a wrong email takes as long
# as a wrong password and response times do not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("miportal-no-such-account")


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
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except VerificationError:
        return False
    except InvalidHashError:
        logger.error("Stored password hash has an unknown format; sign-in rejected")
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
