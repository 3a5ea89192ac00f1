"""Whether mail from an agent's address really comes from the agent's domain.

A From header is easy to forge, so TicketCloud trusts an agent's mail only when the
workspace's own mail server vouches for it in an `Authentication-Results` header
(RFC 8601). The admin names that server's authserv-id in the Mail settings; an empty
value trusts no header. A message is verified when a header with exactly that
authserv-id reports

- `dkim=pass` with a signing domain (`header.d`) equal to the domain of the agent's
  address, or
- `spf=pass` with an envelope sender (`smtp.mailfrom`) in that domain.

Domains are compared whole and case-insensitively (strict alignment, as DMARC calls
it), so a signature of `mail.example.com` does not verify `agent@example.com`.

NOTE: headers that claim the trusted authserv-id count only because RFC 8601 section 5
requires the receiving mail server to remove such headers from incoming mail. A server
that does not remove them lets a sender forge the verification.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.sdk import InvalidInput, ParsedMail
from ticketcloud.checks import MAX_BODY
from ticketcloud.models import MAX_AUTHSERV_ID, TenantSettings

logger = logging.getLogger(__name__)

HEADER = "Authentication-Results"
# RFC 2045 token characters, which an authserv-id written without quotes consists of.
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")


@dataclass(frozen=True)
class MethodResult:
    """One `method=result` entry of an Authentication-Results header, with its
    properties such as `header.d` (names lowercased)."""

    method: str
    result: str
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthenticationResults:
    authserv_id: str
    results: tuple[MethodResult, ...]


@dataclass(frozen=True)
class SenderCheck:
    """Whether an agent's mail is verified, and a sentence that gives the reason."""

    verified: bool
    reason: str


def check_authserv_id(value: object) -> str:
    """Return a trusted authserv-id as stored: stripped, with "" (or None) for none.
    Raises InvalidInput naming `trusted_authserv_id` for anything else."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(
            f"Invalid trusted_authserv_id {value!r}: use the host name that "
            "your mail server writes first in its Authentication-Results "
            "headers, such as mx.example.com, or an empty string.",
            field="trusted_authserv_id",
        )
    text = value.strip()
    if text and (len(text) > MAX_AUTHSERV_ID or not _TOKEN.fullmatch(text)):
        raise InvalidInput(
            f"Invalid trusted_authserv_id {value!r}: use the host name that "
            "your mail server writes first in its Authentication-Results "
            f"headers, such as mx.example.com (at most {MAX_AUTHSERV_ID} "
            "characters, no spaces or semicolons).",
            field="trusted_authserv_id",
        )
    return text


async def do_set_trusted_authserv_id(session: AsyncSession, tenant_id: int, value: object) -> str:
    """Store the workspace's trusted authserv-id ("" or None trusts no header) and
    return it as stored. Raises InvalidInput for a value that cannot be one."""
    checked = check_authserv_id(value)
    settings = await session.get(TenantSettings, tenant_id) or TenantSettings(tenant_id=tenant_id)
    settings.mail_trusted_authserv_id = checked
    session.add(settings)
    await session.flush()
    logger.info("Tenant %s trusts Authentication-Results from %r", tenant_id, checked)
    return checked


def parse_authentication_results(value: str) -> AuthenticationResults | None:
    """Parse one Authentication-Results header value (RFC 8601 section 2.2), or return
    None when it names no authserv-id."""
    parts = _split(_strip_comments(value), ";")
    head = _words(parts[0]) if parts else []
    if not head:
        return None
    results = []
    for part in parts[1:]:
        words = _words(part)
        if not words or "=" not in words[0]:
            continue
        method, result = words[0].split("=", 1)
        properties = {}
        for word in words[1:]:
            name, _, property_value = word.partition("=")
            if "." in name:
                properties[name.lower()] = _unquote(property_value)
        results.append(MethodResult(method.split("/", 1)[0].lower(), result.lower(), properties))
    return AuthenticationResults(_unquote(head[0]), tuple(results))


def check_sender(mail: ParsedMail, *, trusted_authserv_id: str, address: str) -> SenderCheck:
    """Return whether `mail` from `address` is verified by the trusted server's
    Authentication-Results headers."""
    if not trusted_authserv_id:
        return SenderCheck(False, "No trusted mail server is set in the Mail settings.")
    domain = _domain(address)
    trusted = []
    for name, value in mail.headers:
        if name.lower() != HEADER.lower():
            continue
        parsed = parse_authentication_results(value)
        if parsed is not None and parsed.authserv_id.lower() == trusted_authserv_id.lower():
            trusted.append(parsed)
    if not trusted:
        return SenderCheck(False, f"The mail has no {HEADER} header from {trusted_authserv_id}.")
    for header in trusted:
        for item in header.results:
            if item.result != "pass":
                continue
            if item.method == "dkim" and _dkim_domain(item) == domain:
                return SenderCheck(True, f"dkim=pass for {domain}")
            if item.method == "spf" and _domain(item.properties.get("smtp.mailfrom", "")) == domain:
                return SenderCheck(True, f"spf=pass for {domain}")
    return SenderCheck(
        False, f"{trusted_authserv_id} reported neither dkim=pass nor spf=pass for {domain}."
    )


def unverified_note(address: str, reason: str, body: str) -> str:
    """Return the text of the internal note that keeps an agent's unverified mail: a
    first paragraph that marks it as not verified, then the mail's text, cut to fit a message."""
    header = (
        f"[Received by email from the agent's address {address}; not verified, so "
        f"the help desk did not send it to the customer. {reason} To send the text, copy "
        "it into a public reply.]\n\n"
    )
    cut = "\n\n[The email was shortened to fit a ticket message.]"
    if len(header) + len(body) > MAX_BODY:
        body = body[: MAX_BODY - len(header) - len(cut)] + cut
    return header + body


def _dkim_domain(item: MethodResult) -> str:
    signer = item.properties.get("header.d") or item.properties.get("header.i", "")
    return _domain(signer)


def _domain(value: str) -> str:
    return value.rpartition("@")[2].strip().rstrip(".").lower()


def _strip_comments(value: str) -> str:
    """Return `value` without RFC 5322 comments, keeping quoted strings intact."""
    kept: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                kept.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                kept.append(char)
            continue
        if quoted:
            quoted = char != '"'
            kept.append(char)
        elif char == '"' and depth == 0:
            quoted = True
            kept.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth > 0:
            depth -= 1
        elif depth == 0:
            kept.append(char)
    return "".join(kept)


def _split(value: str, separator: str) -> list[str]:
    """Split `value` at `separator` outside quoted strings; a separator of " " splits at
    any whitespace and drops empty parts."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        at_separator = char.isspace() if separator == " " else char == separator
        if at_separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part] if separator == " " else parts


def _words(part: str) -> list[str]:
    """Return the words of `part`, with `name = value` written as one word."""
    return _split(re.sub(r"\s*=\s*", "=", part.strip()), " ")


def _unquote(value: str) -> str:
    text = value.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text
