"""Scheduled inbound mail runs in batches: messages parsed when stored share one
transaction, a failing handler sends the batch back to one message at a time so that
only that message is quarantined, and a message processed meanwhile is skipped."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlmodel import col, select

from portal.db import Database
from portal.mail.inbound import InboundGateway, StoredMail
from portal.mail.inbound_models import InboundMail, InboundStatus
from portal.registry.registry import AppRegistry
from portal.sdk import AppContext
from tests.apps.ticketcloud.conftest import Workspace, receive_mail_at
from tests.apps.ticketcloud.mail_samples import customer_mail
from ticketcloud.models import Ticket

SUPPORT = "support@acme.test"


@pytest.fixture
async def gateway(db: Database, registry: AppRegistry, context: AppContext,
                  workspace: Workspace, tmp_path: Path) -> InboundGateway:
    await receive_mail_at(db, registry, context, workspace, SUPPORT)
    return InboundGateway(db, registry, tmp_path / "data")


async def store_all(gateway: InboundGateway, senders: list[str]) -> list[StoredMail]:
    stored: list[StoredMail] = []
    for index, sender in enumerate(senders):
        raw = bytes(customer_mail(to=SUPPORT, sender=sender, subject=f"Request {index}"))
        stored += await gateway.store(raw, recipients=[SUPPORT], parse=True)
    return stored


async def statuses(db: Database, stored: list[StoredMail]) -> list[str]:
    async with db.read() as session:
        rows = (await session.exec(select(InboundMail).where(col(InboundMail.id).in_(
            [item.inbound_id for item in stored])).order_by(col(InboundMail.id)))).all()
    return [row.status.value for row in rows]


async def ticket_subjects(db: Database, workspace: Workspace) -> list[tuple[int, str]]:
    async with db.read() as session:
        tickets = (await session.exec(select(Ticket).where(
            Ticket.tenant_id == workspace.tenant_id).order_by(col(Ticket.number)))).all()
    return [(ticket.number, ticket.subject) for ticket in tickets]


async def test_batch_processes_every_message(gateway: InboundGateway, db: Database,
                                             workspace: Workspace,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="portal.mail.inbound")
    stored = await store_all(gateway, [f"person{index}@customer.example"
                                       for index in range(5)])

    gateway.schedule(stored)
    await gateway.stop()

    assert await statuses(db, stored) == ["processed"] * 5
    assert await ticket_subjects(db, workspace) == [
        (index + 1, f"Request {index}") for index in range(5)]
    assert sum("in a batch of 5" in record.getMessage() for record in caplog.records) == 5


async def test_batch_failure_quarantines_one(gateway: InboundGateway, db: Database,
                                             workspace: Workspace,
                                             caplog: pytest.LogCaptureFixture) -> None:
    """TicketCloud rejects a sender at localhost, so its handler raises in the middle of
    the batch. The others are processed once each, with no ticket number lost."""
    stored = await store_all(gateway, ["first@customer.example", "second@customer.example",
                                       "someone@localhost", "fourth@customer.example"])

    gateway.schedule(stored)
    await gateway.stop()

    assert await statuses(db, stored) == ["processed", "processed", "quarantined",
                                          "processed"]
    assert await ticket_subjects(db, workspace) == [
        (1, "Request 0"), (2, "Request 1"), (3, "Request 3")]
    assert any("processing each message on its own" in record.getMessage()
               for record in caplog.records)


async def test_batch_skips_message_processed_meanwhile(gateway: InboundGateway,
                                                       db: Database,
                                                       workspace: Workspace) -> None:
    stored = await store_all(gateway, ["first@customer.example", "second@customer.example",
                                       "third@customer.example"])
    assert await gateway.process(stored[1].inbound_id) is InboundStatus.PROCESSED

    gateway.schedule(stored)
    await gateway.stop()

    assert await statuses(db, stored) == ["processed"] * 3
    assert await ticket_subjects(db, workspace) == [
        (1, "Request 1"), (2, "Request 0"), (3, "Request 2")]


async def test_unparsed_message_is_processed_alone(gateway: InboundGateway, db: Database,
                                                   workspace: Workspace) -> None:
    """A row stored without parsing (as the IMAP poller stores it) is read back and
    parsed by the one-message path."""
    raw = bytes(customer_mail(to=SUPPORT, subject="From the mailbox"))
    stored = await gateway.store(raw, recipients=[SUPPORT])
    assert stored[0].parsed is None

    gateway.schedule(stored)
    await gateway.stop()

    assert await statuses(db, stored) == ["processed"]
    assert await ticket_subjects(db, workspace) == [(1, "From the mailbox")]


async def test_mixed_queue_keeps_arrival_order(gateway: InboundGateway, db: Database,
                                               workspace: Workspace) -> None:
    """An unparsed row between parsed ones ends the batch before it, so tickets keep
    the order in which the messages arrived."""
    stored: list[StoredMail] = []
    for index, parse in enumerate((True, True, False, True, True)):
        raw = bytes(customer_mail(to=SUPPORT, subject=f"Request {index}"))
        stored += await gateway.store(raw, recipients=[SUPPORT], parse=parse)

    gateway.schedule(stored)
    await gateway.stop()

    assert await statuses(db, stored) == ["processed"] * 5
    assert await ticket_subjects(db, workspace) == [
        (index + 1, f"Request {index}") for index in range(5)]
