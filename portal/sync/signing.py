"""Request signatures: HMAC-SHA256 over the installation id, a timestamp, a nonce and
the body, with the secret the master issued to the child."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from portal.errors import PortalError

HEADER_INSTALLATION = "X-MiPortal-Installation"
HEADER_TIMESTAMP = "X-MiPortal-Timestamp"
HEADER_NONCE = "X-MiPortal-Nonce"
HEADER_SIGNATURE = "X-MiPortal-Signature"
SIGNATURE_PREFIX = "hmac-sha256="

# A request whose timestamp differs from the master's clock by more than this is
# rejected. Nonces are kept for twice as long, so a replay within the window is caught.
TIMESTAMP_WINDOW_SECONDS = 300
NONCE_TTL_SECONDS = 2 * TIMESTAMP_WINDOW_SECONDS
_NONCE = re.compile(r"[A-Za-z0-9_\-]{16,64}")
_INSTALLATION = re.compile(r"[0-9a-f]{32}")


class SignatureRejected(PortalError):
    code = "bad_signature"
    status = 401


@dataclass(frozen=True)
class SignedHeaders:
    installation_id: str
    timestamp: int
    nonce: str
    signature: str


def new_secret() -> str:
    """Return a new shared secret for a child (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def signature(secret: str, installation_id: str, timestamp: int, nonce: str,
              body: bytes) -> str:
    message = f"{installation_id}\n{timestamp}\n{nonce}\n".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, installation_id: str, body: bytes, *,
         now: float | None = None) -> dict[str, str]:
    """Return the headers that authenticate `body` as coming from `installation_id`."""
    timestamp = int(time.time() if now is None else now)
    nonce = secrets.token_urlsafe(24)
    return {
        HEADER_INSTALLATION: installation_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: SIGNATURE_PREFIX + signature(secret, installation_id, timestamp,
                                                       nonce, body),
    }


def read_headers(headers: Mapping[str, str]) -> SignedHeaders:
    """Return the signature headers of a request, or raise SignatureRejected
    (`missing_signature`) when one is missing or malformed."""
    values = {name: headers.get(name, "").strip() for name in
              (HEADER_INSTALLATION, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise SignatureRejected(f"Missing the headers {', '.join(missing)}; sign every "
                                "request.", code="missing_signature")
    installation_id = values[HEADER_INSTALLATION]
    timestamp = values[HEADER_TIMESTAMP]
    nonce = values[HEADER_NONCE]
    signed = values[HEADER_SIGNATURE]
    if not _INSTALLATION.fullmatch(installation_id):
        raise SignatureRejected(f"Invalid {HEADER_INSTALLATION} {installation_id[:40]!r}: "
                                "send 32 lowercase hex digits.", code="missing_signature")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureRejected(f"Invalid {HEADER_TIMESTAMP} {timestamp[:20]!r}: send Unix "
                                "seconds.", code="missing_signature")
    if not _NONCE.fullmatch(nonce):
        raise SignatureRejected(f"Invalid {HEADER_NONCE}: send 16 to 64 URL-safe "
                                "characters.", code="missing_signature")
    if not signed.startswith(SIGNATURE_PREFIX):
        raise SignatureRejected(f"Invalid {HEADER_SIGNATURE}: start it with "
                                f"{SIGNATURE_PREFIX!r}.", code="missing_signature")
    return SignedHeaders(installation_id, int(timestamp), nonce,
                         signed.removeprefix(SIGNATURE_PREFIX))


def check_timestamp(headers: SignedHeaders, *, now: float | None = None) -> None:
    """Raise SignatureRejected (`stale_timestamp`) outside the accepted window."""
    current = time.time() if now is None else now
    skew = abs(current - headers.timestamp)
    if skew > TIMESTAMP_WINDOW_SECONDS:
        raise SignatureRejected(
            f"The request's timestamp is {int(skew)} s away from the master's clock, more "
            f"than {TIMESTAMP_WINDOW_SECONDS} s; synchronize the clocks.",
            code="stale_timestamp")


def check_signature(secret: str, headers: SignedHeaders, body: bytes) -> None:
    """Raise SignatureRejected (`bad_signature`) unless the signature matches."""
    expected = signature(secret, headers.installation_id, headers.timestamp, headers.nonce,
                         body)
    if not hmac.compare_digest(expected, headers.signature):
        raise SignatureRejected("The request's signature does not match its body; check "
                                "the secret configured with `sync configure-master`.")
