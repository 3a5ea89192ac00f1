"""A small blocking IMAP client on the standard library's imaplib, for the poller to run
in a worker thread (`asyncio.to_thread`), one call at a time.

Every failure, from a refused connection to a rejected sign-in or a `NO` reply, raises
`ImapFailure` with a message for the mailbox's state. TLS (implicit, or upgraded with
STARTTLS) verifies the server's certificate and host name against the target's CA file,
or the system's trust store without one. Messages are fetched with
`BODY.PEEK[]`, which does not set \\Seen (RFC 3501, section 6.4.5), so a message is
flagged only by `mark_seen` or `move`, after it is stored.
"""

from __future__ import annotations

import imaplib
import logging
import re
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

from portal.mail.imap_models import ImapSecurity

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30.0
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH_UID = re.compile(rb"UID (\d+)")


class ImapFailure(Exception):
    """An IMAP step failed; the message is safe to show an admin (it never contains the
    password)."""


@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    security: ImapSecurity
    username: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    timeout: float = TIMEOUT_SECONDS
    ca_file: str | None = None


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Return a client context that verifies certificates and host names against
    `ca_file` only, or against the system's trust store when it is None. Raises OSError
    or ssl.SSLError when the file cannot be read or contains no certificate."""
    return ssl.create_default_context(cafile=ca_file)


class ImapClient:
    """One signed-in connection with `folder` selected read-write."""

    def __init__(self, target: ImapTarget) -> None:
        self.target = target
        self._imap: imaplib.IMAP4 | None = None
        self.uidvalidity = 0
        self.exists = 0
        self.capabilities: frozenset[str] = frozenset()

    def open(self) -> None:
        """Connect, sign in and select the folder; raise ImapFailure on any failure."""
        target = self.target
        context = self._context()
        try:
            if target.security is ImapSecurity.TLS:
                self._imap = imaplib.IMAP4_SSL(target.host, target.port, ssl_context=context,
                                               timeout=target.timeout)
            else:
                self._imap = imaplib.IMAP4(target.host, target.port, timeout=target.timeout)
                if target.security is ImapSecurity.STARTTLS:
                    self._imap.starttls(context)
        except ssl.SSLCertVerificationError as error:
            self.close()
            trusted = (f"the CA file {target.ca_file}" if target.ca_file
                       else "the system's trusted CAs")
            raise ImapFailure(
                f"The TLS certificate of {target.host}:{target.port} was rejected: "
                f"{error.verify_message} (checked against {trusted}). Set the mailbox's CA "
                "file to the CA certificate that signed the server's certificate, or fix "
                "the server's certificate.") from error
        except ssl.SSLError as error:
            self.close()
            raise ImapFailure(
                f"The TLS handshake with {target.host}:{target.port} failed: "
                f"{_describe(error)}. Check that the security mode matches the port: tls "
                "for IMAPS (usually 993), starttls for IMAP (usually 143).") from error
        except (OSError, imaplib.IMAP4.error) as error:
            self.close()
            hint = ""
            if isinstance(error, socket.timeout | TimeoutError) and \
                    target.security is not ImapSecurity.TLS:
                # A port that expects TLS from the first byte waits for the client's
                # TLS hello and never sends the IMAP greeting to a plain connection.
                hint = (" without an IMAP greeting. If the port expects TLS from the first "
                        "byte (IMAPS, usually 993), set the mailbox's security to tls.")
            raise ImapFailure(f"Connecting to {target.host}:{target.port} failed: "
                              f"{_describe(error)}{hint}") from error
        # NOTE: Dovecot treats a connection from its own address as secure, so the tests
        # on loopback never see LOGINDISABLED; other servers announce it without TLS.
        if target.security is ImapSecurity.NONE and "LOGINDISABLED" in self._capabilities():
            self.close()
            raise ImapFailure(
                f"{target.host}:{target.port} requires TLS before sign-in (it announces "
                "LOGINDISABLED), so the password was not sent. Set the mailbox's security "
                "to starttls or tls.")
        self._command("Signing in as " + repr(target.username), "login", target.username,
                      target.password)
        # Servers announce extensions such as MOVE only after sign-in, and imaplib keeps the
        # list it read on connecting.
        data = self._command("Reading capabilities", "capability")
        self.capabilities = frozenset(
            b" ".join(item for item in data if isinstance(item, bytes)).decode(
                "ascii", "replace").upper().split())
        data = self._command(f"Selecting folder {target.folder!r}", "select",
                             _quote(target.folder))
        self.exists = int(data[0]) if data and data[0] and data[0].isdigit() else 0
        self.uidvalidity = self._uidvalidity()

    def _context(self) -> ssl.SSLContext | None:
        if self.target.security is ImapSecurity.NONE:
            return None
        try:
            return tls_context(self.target.ca_file)
        except (OSError, ssl.SSLError) as error:
            raise ImapFailure(f"The CA file {self.target.ca_file} could not be loaded: "
                              f"{_describe(error)}. Choose a readable PEM file with the CA "
                              "certificate.") from error

    def _capabilities(self) -> tuple[str, ...]:
        imap = self._connection()
        return tuple(str(item).upper() for item in imap.capabilities)

    def unseen_uids(self) -> list[int]:
        """Return the UIDs of the folder's messages without \\Seen, ascending."""
        data = self._command("Searching for new messages", "uid", "SEARCH", None, "UNSEEN")
        return sorted(int(item) for item in b" ".join(
            part for part in data if isinstance(part, bytes)).split())

    def fetch(self, uid: int) -> bytes | None:
        """Return the raw message with `uid`, or None when it was expunged meanwhile."""
        data = self._command(f"Fetching message UID {uid}", "uid", "FETCH", str(uid),
                             "(UID BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple) and _FETCH_UID.search(item[0]):
                return bytes(item[1])
        return None

    def mark_seen(self, uid: int) -> None:
        self._command(f"Flagging message UID {uid} as seen", "uid", "STORE", str(uid),
                      "+FLAGS.SILENT", r"(\Seen)")

    def move(self, uid: int, folder: str) -> None:
        """Flag the message \\Seen and move it to `folder` (MOVE, RFC 6851, or COPY and
        expunge where the server lacks it)."""
        self.mark_seen(uid)
        if "MOVE" in self.capabilities:
            self._command(f"Moving message UID {uid} to {folder!r}", "uid", "MOVE", str(uid),
                          _quote(folder))
            return
        self._command(f"Copying message UID {uid} to {folder!r}", "uid", "COPY", str(uid),
                      _quote(folder))
        self._command(f"Deleting message UID {uid}", "uid", "STORE", str(uid),
                      "+FLAGS.SILENT", r"(\Deleted)")
        # Without UIDPLUS only a plain EXPUNGE exists, which would also remove messages
        # that others flagged \Deleted, so the copy stays flagged for a mail client.
        if "UIDPLUS" in self.capabilities:
            self._command(f"Expunging message UID {uid}", "uid", "EXPUNGE", str(uid))

    def close(self) -> None:
        """Sign out; errors are ignored because the connection is being dropped anyway."""
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            imap.logout()
        except (OSError, imaplib.IMAP4.error) as error:
            logger.debug("Signing out of %s failed: %s", self.target.host, error)
            # imaplib's logout() closes the socket only after LOGOUT succeeded.
            try:
                imap.shutdown()
            except OSError as shutdown_error:
                logger.debug("Closing the connection to %s failed: %s", self.target.host,
                             shutdown_error)

    def _uidvalidity(self) -> int:
        imap = self._connection()
        values = imap.untagged_responses.get("UIDVALIDITY") or []
        for value in values:
            if isinstance(value, bytes) and value.isdigit():
                return int(value)
        data = self._command("Reading UIDVALIDITY", "status", _quote(self.target.folder),
                             "(UIDVALIDITY)")
        match = _UIDVALIDITY.search(b" ".join(item for item in data if isinstance(item, bytes)))
        if match is None:
            raise ImapFailure(f"The server sent no UIDVALIDITY for {self.target.folder!r}.")
        return int(match.group(1))

    def _connection(self) -> imaplib.IMAP4:
        if self._imap is None:
            raise ImapFailure("The IMAP connection is closed.")
        return self._imap

    def _command(self, step: str, name: str, *args: Any) -> list[Any]:
        imap = self._connection()
        try:
            status, data = getattr(imap, name)(*args)
        except (OSError, imaplib.IMAP4.error) as error:
            self.close()
            raise ImapFailure(f"{step} failed: {_describe(error)}") from error
        if status != "OK":
            raise ImapFailure(f"{step} failed: {_text(data)}")
        return list(data)


def _quote(name: str) -> str:
    """Return a folder name as an IMAP quoted string (RFC 3501, section 4.3)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _describe(error: BaseException) -> str:
    if isinstance(error, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(error, ssl.SSLError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        # args[0] of an OSError is its errno number.
        return error.strerror
    text = error.args[0] if error.args else error
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text) or type(error).__name__


def _text(data: list[Any]) -> str:
    parts = [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
             for item in data if item is not None]
    return " ".join(parts) or "no reason given"
