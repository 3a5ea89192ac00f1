"""Password rules and argon2 hashing."""

from __future__ import annotations

import pytest

from portal.auth.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    check_new_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from portal.errors import InvalidInput

PASSWORD = "correct horse battery"


def test_check_new_password_too_short() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_new_password("x" * (MIN_PASSWORD_LENGTH - 1))

    assert caught.value.field == "password"
    assert f"at least {MIN_PASSWORD_LENGTH}" in caught.value.message


def test_check_new_password_too_long() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_new_password("x" * (MAX_PASSWORD_LENGTH + 1))

    assert caught.value.field == "password"


def test_check_new_password_limits_inclusive() -> None:
    assert check_new_password("x" * MIN_PASSWORD_LENGTH) == "x" * MIN_PASSWORD_LENGTH
    assert check_new_password("x" * MAX_PASSWORD_LENGTH) == "x" * MAX_PASSWORD_LENGTH


def test_hash_password_argon2id() -> None:
    first = hash_password(PASSWORD)
    second = hash_password(PASSWORD)

    assert first.startswith("$argon2id$")
    assert first != second
    assert PASSWORD not in first
    assert not needs_rehash(first)


def test_verify_password_matches() -> None:
    stored = hash_password(PASSWORD)

    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD.upper())
    assert not verify_password(stored, PASSWORD + " ")


def test_verify_password_without_hash() -> None:
    assert not verify_password(None, PASSWORD)
    assert not verify_password(None, "miportal-no-such-account")


def test_verify_password_too_long() -> None:
    stored = hash_password(PASSWORD)

    assert not verify_password(stored, PASSWORD + "x" * MAX_PASSWORD_LENGTH)


def test_verify_password_unknown_hash_format() -> None:
    assert not verify_password("$md5$not-argon2", PASSWORD)
