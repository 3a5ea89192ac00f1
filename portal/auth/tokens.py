"""Random secrets and their stored digests, shared by sessions and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets

API_TOKEN_PREFIX = "mpt_"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """Return the SHA-256 hex digest stored in place of a high-entropy secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_token() -> str:
    return API_TOKEN_PREFIX + new_secret()


def signed(key: str, *parts: str) -> str:
    message = "\x1f".join(parts).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
