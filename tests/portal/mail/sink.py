"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, for tests
of outgoing mail."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support import free_port


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content()).replace("\r\n", "\n")


@dataclass
class SinkHandler:
    """Keeps every accepted message; answers RCPT for `reject` addresses with their reply
    (such as "550 5.1.1 No such user")."""

    received: list[ReceivedMail] = field(default_factory=list)
    reject: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        reply = self.reject.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(ReceivedMail(str(envelope.mail_from),
                                              list(envelope.rcpt_tos), message))
        return "250 Message accepted"


class MailSink:
    """An SMTP server on 127.0.0.1:`port`; `relay_url` is its address for the portal."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = SinkHandler()
        self._controller: Controller | None = None

    @property
    def relay_url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[ReceivedMail]:
        with self.handler.lock:
            return list(self.handler.received)

    def wait_for(self, condition: Callable[[ReceivedMail], bool], *,
                 timeout: float = 15.0) -> ReceivedMail:
        """Return the first received message that meets `condition`, waiting up to
        `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.messages():
                if condition(item):
                    return item
            time.sleep(0.05)
        raise TimeoutError(f"no matching mail within {timeout} s; received "
                           f"{[str(item.message['Subject']) for item in self.messages()]}")


@contextmanager
def running_sink(port: int | None = None) -> Iterator[MailSink]:
    sink = MailSink(port)
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


def to_address(address: str) -> Callable[[ReceivedMail], bool]:
    return lambda item: address.lower() in (rcpt.lower() for rcpt in item.recipients)


def header(item: ReceivedMail, name: str) -> Any:
    return item.message[name]
