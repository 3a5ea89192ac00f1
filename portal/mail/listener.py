"""The inbound SMTP listener: aiosmtpd's SMTP protocol served by `loop.create_server` on
the portal's own event loop, started and stopped with the portal's services.

Replies: RCPT TO an address without a route gets 550 5.1.1; a message over the size
limit (advertised with the SIZE extension), or over the header, part or nesting limit,
gets 552 5.3.4; a message that could not be
stored gets 451 4.3.0 so that the sending server retries; 250 comes only after the raw
message is durably stored. The app processes the message after that reply.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import weakref
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.exc import SQLAlchemyError

from portal.mail.inbound import InboundGateway, StorageFailed, UnknownRecipient
from portal.mail.inbound_models import MailRoute
from portal.mail.parse import MailLimitExceeded

logger = logging.getLogger(__name__)

CONNECTION_TIMEOUT_SECONDS = 300
REPLY_UNKNOWN_RECIPIENT = "550 5.1.1 No mailbox here by that name"
REPLY_TOO_BIG = "552 5.3.4 Message too big for this server"
# Replies for the structure limits, by MailLimitExceeded.reason.
REPLY_OVER_LIMIT = {
    "header_size": "552 5.3.4 Message header too big for this server",
    "parts": "552 5.3.4 Message has too many MIME parts for this server",
    "depth": "552 5.3.4 Message nests MIME parts too deeply for this server",
}
REPLY_TRY_AGAIN = "451 4.3.0 Temporary failure storing the message; try again later"
REPLY_ACCEPTED = "250 2.0.0 Message accepted for delivery"
# How long one SMTP session reuses the route it found for a recipient, so that an MTA
# that sends many messages over one connection pays one lookup. The insert checks the
# route again in its transaction: a route removed or moved meanwhile gets 451 at DATA,
# and the retry's RCPT looks it up anew.
SESSION_ROUTE_SECONDS = 10.0


class _PortalSMTP(SMTP):
    """aiosmtpd's protocol with enhanced status codes (RFC 3463) on its size replies.

    aiosmtpd 1.4 answers an over-size SIZE parameter or DATA with "552 Error: ..." and no
    enhanced code, from inside its command methods, so the reply is rewritten here.
    """

    async def push(self, status: Any) -> None:
        if isinstance(status, str) and status.startswith("552 Error:"):
            peer = self.session.peer if self.session is not None else None
            logger.warning("Rejected a message from %s over the %s-byte limit", peer,
                           self.data_size_limit)
            status = REPLY_TOO_BIG
        await super().push(status)


class _Handler:
    """aiosmtpd handler hooks; each returns the SMTP reply line."""

    def __init__(self, gateway: InboundGateway) -> None:
        self.gateway = gateway
        # The routes found at RCPT time for each envelope's recipients, so that DATA
        # stores the message without looking them up again.
        self._routes: weakref.WeakKeyDictionary[Envelope, dict[str, MailRoute]] = (
            weakref.WeakKeyDictionary())
        # The routes each SMTP session found, with the time of the lookup (see
        # SESSION_ROUTE_SECONDS).
        self._session_routes: weakref.WeakKeyDictionary[
            Session, dict[str, tuple[MailRoute, float]]] = weakref.WeakKeyDictionary()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        known = self._session_routes.setdefault(session, {})
        found = known.get(address)
        now = time.monotonic()
        if found is not None and now - found[1] < SESSION_ROUTE_SECONDS:
            route: MailRoute | None = found[0]
        else:
            try:
                route = await self.gateway.find_recipient(address)
            except SQLAlchemyError:
                logger.exception("Looking up recipient %r failed", address)
                return REPLY_TRY_AGAIN
            if route is not None:
                known[address] = (route, now)
        if route is None:
            logger.info("Rejected RCPT TO %r from %s (MAIL FROM %r): no route", address,
                        session.peer, envelope.mail_from)
            return REPLY_UNKNOWN_RECIPIENT
        envelope.rcpt_tos.append(address)
        self._routes.setdefault(envelope, {})[address] = route
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            stored = await self.gateway.store(raw, recipients=list(envelope.rcpt_tos),
                                              envelope_sender=envelope.mail_from or "",
                                              routes=self._routes.get(envelope), parse=True)
        except MailLimitExceeded as error:
            logger.info("Rejected a message from %s (MAIL FROM %r): %s", session.peer,
                        envelope.mail_from, error.message)
            return REPLY_OVER_LIMIT.get(error.reason, REPLY_TOO_BIG)
        except UnknownRecipient as error:
            logger.info("Rejected a message from %s: %s", session.peer, error.message)
            return REPLY_UNKNOWN_RECIPIENT
        except StorageFailed:
            logger.warning("Replied 451 to %s (MAIL FROM %r): storing failed", session.peer,
                           envelope.mail_from)
            # A route that changed (RouteChanged) must be looked up again on the retry.
            self._session_routes.pop(session, None)
            return REPLY_TRY_AGAIN
        self.gateway.schedule(stored)
        ids = ",".join(str(item.inbound_id) for item in stored)
        return f"{REPLY_ACCEPTED} (id {ids})"


class SmtpListener:
    """The SMTP server of one portal process."""

    def __init__(self, gateway: InboundGateway, *, host: str, port: int) -> None:
        self.gateway = gateway
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen on host:port. A port that cannot be bound is logged as an error and
        leaves the portal running without inbound SMTP."""
        loop = asyncio.get_running_loop()
        handler = _Handler(self.gateway)
        # The hostname is given, because aiosmtpd's default calls socket.getfqdn(), which
        # can wait seconds for DNS.
        hostname = socket.gethostname()

        def protocol() -> SMTP:
            return _PortalSMTP(handler, data_size_limit=self.gateway.limits.max_bytes,
                               enable_SMTPUTF8=True, hostname=hostname,
                               ident="MiPortal inbound mail", loop=loop,
                               timeout=CONNECTION_TIMEOUT_SECONDS)

        try:
            self._server = await loop.create_server(protocol, self.host, self.port)
        except OSError as error:
            logger.error("Inbound SMTP listener could not listen on %s:%s (%s); mail is "
                         "not received over SMTP. Free the port or set --smtp-port.",
                         self.host, self.port, error)
            return
        logger.info("Inbound SMTP listener started on %s:%s with a %s-byte message limit",
                    self.host, self.port, self.gateway.limits.max_bytes)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        logger.info("Inbound SMTP listener on %s:%s stopped", self.host, self.port)
