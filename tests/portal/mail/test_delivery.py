"""The delivery worker against a real SMTP server on 127.0.0.1: sending, retries with
growing delays, permanent failures, and mail that waits for a relay."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from portal.db import Database
from portal.mail.compose import MailAddress, OutgoingMail
from portal.mail.delivery import DeliveryWorker, RetryPolicy
from portal.mail.outbound_relay import do_update_mail_settings, parse_relay_url
from portal.mail.outbox import MailGateway, OutboxMessage, OutboxStatus, do_release_no_relay
from tests.portal.mail.conftest import SECRET
from tests.portal.mail.sink import MailSink, running_sink, to_address
from tests.support import free_port

FAST = RetryPolicy(base_seconds=0.1, max_delay_seconds=0.8, max_attempts=50)
MAIL = OutgoingMail(ref="ticket:1", to=[MailAddress("cal@example.net", "Cal")],
                    subject="Delivery test", text="Hello.\n.\nA line with a dot above.\n")


def gateway_for(relay_url: str) -> MailGateway:
    return MailGateway(secret_key=SECRET, public_url="https://portal.example.com",
                       default_relay=parse_relay_url(relay_url))


@asynccontextmanager
async def running_worker(db: Database, gateway: MailGateway, *,
                         policy: RetryPolicy = FAST,
                         sweep_seconds: float = 60.0) -> AsyncIterator[DeliveryWorker]:
    """Run a worker whose periodic sweep is too slow to matter, so only wake-ups and
    retry timers drive it."""
    worker = DeliveryWorker(db, gateway, policy=policy, sweep_seconds=sweep_seconds,
                            smtp_timeout=5)
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


async def stage(db: Database, gateway: MailGateway, tenant_id: int,
                mail: OutgoingMail = MAIL) -> int:
    async with db.transaction() as session:
        queued = await gateway.stage(session, tenant_id=tenant_id, app_id="test", mail=mail)
    return queued.id


async def wait_for_row(db: Database, row_id: int, condition: Callable[[OutboxMessage], bool],
                       *, within: float = 10.0) -> OutboxMessage:
    deadline = time.monotonic() + within
    row = None
    while time.monotonic() < deadline:
        async with db.read() as session:
            row = await session.get(OutboxMessage, row_id)
        assert row is not None
        if condition(row):
            return row
        await asyncio.sleep(0.02)
    raise TimeoutError(f"outbox row {row_id} did not reach the condition in {within} s; last state "
                       f"{row.status if row else None}, error {row.last_error if row else None}")


async def wait_for_mail(sink: MailSink, address: str, *, within: float = 10.0) -> None:
    await asyncio.to_thread(sink.wait_for, to_address(address), timeout=within)


def retry_delay(record: logging.LogRecord) -> float:
    """Return the delay a retry log record announces, its last argument."""
    assert isinstance(record.args, tuple)
    delay = record.args[-1]
    assert isinstance(delay, float)
    return delay


async def test_worker_sends_after_commit(db: Database, tenant_id: int) -> None:
    with running_sink() as sink:
        gateway = gateway_for(sink.relay_url)
        async with running_worker(db, gateway):
            row_id = await stage(db, gateway, tenant_id)
            await wait_for_mail(sink, "cal@example.net")
            row = await wait_for_row(db, row_id, lambda row: row.status == OutboxStatus.SENT)

    [received] = sink.messages()
    assert received.sender == "acme@portal.example.com"
    assert received.recipients == ["cal@example.net"]
    # The parser keeps the space of a folded header line, so the value is stripped.
    assert str(received.message["Message-ID"]).strip() == row.message_id
    assert received.body() == MAIL.text
    assert row.attempts == 1
    assert row.sent_at is not None
    assert row.lease_owner is None


async def test_worker_retries_dead_relay_then_delivers(
        db: Database, tenant_id: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="portal.mail.delivery")
    port = free_port()
    gateway = gateway_for(f"smtp://127.0.0.1:{port}")
    async with running_worker(db, gateway):
        row_id = await stage(db, gateway, tenant_id)
        failed = await wait_for_row(db, row_id, lambda row: row.attempts >= 4)
        delays = [retry_delay(record) for record in caplog.records
                  if str(record.msg).startswith("Mail %s of tenant %s not delivered")]
        with running_sink(port) as sink:
            gateway.wake()
            await wait_for_mail(sink, "cal@example.net")
            sent = await wait_for_row(db, row_id, lambda row: row.status == OutboxStatus.SENT)

    assert failed.status in (OutboxStatus.RETRYING, OutboxStatus.SENDING)
    assert "Connection to the relay failed" in (failed.last_error or "")
    assert len(delays) >= 4
    assert delays[:4] == sorted(delays[:4])
    assert delays[3] > delays[0]
    assert all(delay <= FAST.max_delay_seconds for delay in delays)
    assert len(sink.messages()) == 1
    assert sent.attempts == len(delays) + 1
    assert sent.last_error is None


async def test_worker_fails_on_5xx(db: Database, tenant_id: int) -> None:
    with running_sink() as sink:
        sink.handler.reject["cal@example.net"] = "550 5.1.1 No such user here"
        gateway = gateway_for(sink.relay_url)
        async with running_worker(db, gateway):
            row_id = await stage(db, gateway, tenant_id)
            row = await wait_for_row(db, row_id, lambda row: row.status == OutboxStatus.FAILED)

    assert row.attempts == 1
    assert row.last_error is not None
    assert "550" in row.last_error
    assert "No such user here" in row.last_error
    assert sink.messages() == []


async def test_worker_retries_4xx_until_accepted(db: Database, tenant_id: int) -> None:
    with running_sink() as sink:
        sink.handler.reject["cal@example.net"] = "451 4.7.1 Greylisted, try again later"
        gateway = gateway_for(sink.relay_url)
        async with running_worker(db, gateway):
            row_id = await stage(db, gateway, tenant_id)
            retrying = await wait_for_row(db, row_id, lambda row: row.attempts >= 2)
            sink.handler.reject.clear()
            sent = await wait_for_row(db, row_id, lambda row: row.status == OutboxStatus.SENT)

    assert "451" in (retrying.last_error or "")
    assert sent.attempts >= 3
    assert len(sink.messages()) == 1


async def test_worker_gives_up_after_max_attempts(db: Database, tenant_id: int) -> None:
    gateway = gateway_for(f"smtp://127.0.0.1:{free_port()}")
    policy = RetryPolicy(base_seconds=0.05, max_delay_seconds=0.1, max_attempts=3)
    async with running_worker(db, gateway, policy=policy):
        row_id = await stage(db, gateway, tenant_id)
        row = await wait_for_row(db, row_id, lambda row: row.status == OutboxStatus.FAILED)

    assert row.attempts == 3
    assert (row.last_error or "").startswith("Gave up after 3 attempts")


async def test_worker_waits_for_relay(db: Database, tenant_id: int) -> None:
    gateway = MailGateway(secret_key=SECRET, public_url="https://portal.example.com")
    with running_sink() as sink:
        async with running_worker(db, gateway):
            row_id = await stage(db, gateway, tenant_id)
            waiting = await wait_for_row(db, row_id,
                                         lambda row: row.status == OutboxStatus.NO_RELAY)
            async with db.transaction() as session:
                await do_update_mail_settings(session, tenant_id, {
                    "relay_host": "127.0.0.1", "relay_port": sink.port})
                await do_release_no_relay(session, tenant_id=tenant_id)
            gateway.wake()
            sent = await wait_for_row(db, row_id, lambda row: row.status == OutboxStatus.SENT)

    assert waiting.attempts == 0
    assert "No SMTP relay" in (waiting.last_error or "")
    assert sent.attempts == 1
    assert len(sink.messages()) == 1


def test_retry_delay_capped_with_jitter() -> None:
    policy = RetryPolicy(base_seconds=10, max_delay_seconds=60)

    delays = [policy.delay(attempt) for attempt in range(1, 12) for _ in range(20)]

    assert min(delays) >= 5
    assert max(delays) <= 60
    assert len(set(delays)) > 1
