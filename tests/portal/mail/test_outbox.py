"""The outbox: staging in the caller's transaction, leases, and delivery states."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from portal.db import Database, utcnow
from portal.errors import InvalidInput
from portal.mail.compose import MailAddress, OutgoingMail
from portal.mail.outbound_relay import do_update_mail_settings
from portal.mail.outbox import (
    NO_RELAY_RECHECK,
    MailGateway,
    OutboxMessage,
    OutboxStatus,
    check_transition,
    claim_due,
    default_domain,
    deliveries,
    finish,
)
from tests.portal.mail.conftest import SECRET, create_tenant

MAIL = OutgoingMail(ref="ticket:1", to=[MailAddress("cal@example.net", "Cal")],
                    subject="Hello", text="Hello.\n")


class Rollback(Exception):
    pass


async def stage(db: Database, gateway: MailGateway, tenant_id: int,
                mail: OutgoingMail = MAIL, app_id: str = "ticketcloud") -> int:
    async with db.transaction() as session:
        queued = await gateway.stage(session, tenant_id=tenant_id, app_id=app_id, mail=mail)
    return queued.id


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.read() as session:
        return list((await session.exec(select(OutboxMessage))).all())


async def test_stage_stores_queued_row(db: Database, gateway: MailGateway,
                                       tenant_id: int) -> None:
    async with db.transaction() as session:
        queued = await gateway.stage(session, tenant_id=tenant_id, app_id="ticketcloud",
                                     mail=MAIL)

    [row] = await rows(db)
    assert row.id == queued.id
    assert row.message_id == queued.message_id
    assert row.status == OutboxStatus.QUEUED
    assert row.envelope_from == "acme@portal.example.com"
    assert row.recipients == ["cal@example.net"]
    assert queued.message_id.encode() in row.content.replace(b"\r\n ", b" ")
    assert gateway.verify_message_id(queued.message_id) == tenant_id


async def test_stage_without_relay_waits_without_waking(db: Database,
                                                         tenant_id: int) -> None:
    gateway = MailGateway(secret_key=SECRET, public_url="https://portal.example.com")
    before = utcnow()
    async with db.transaction() as session:
        await gateway.stage(session, tenant_id=tenant_id, app_id="ticketcloud", mail=MAIL)

    [row] = await rows(db)
    assert row.status == OutboxStatus.NO_RELAY
    assert row.attempts == 0
    assert "No SMTP relay" in (row.last_error or "")
    assert row.next_attempt_at >= before + NO_RELAY_RECHECK
    assert not gateway.wakeup.is_set()


async def test_stage_rolled_back_leaves_nothing(db: Database, gateway: MailGateway,
                                                tenant_id: int) -> None:
    with pytest.raises(Rollback):
        async with db.transaction() as session:
            await gateway.stage(session, tenant_id=tenant_id, app_id="ticketcloud", mail=MAIL)
            raise Rollback

    assert await rows(db) == []
    assert not gateway.wakeup.is_set()


async def test_stage_wakes_worker_after_commit(db: Database, gateway: MailGateway,
                                               tenant_id: int) -> None:
    async with db.transaction() as session:
        await gateway.stage(session, tenant_id=tenant_id, app_id="ticketcloud", mail=MAIL)
        assert not gateway.wakeup.is_set()

    assert gateway.wakeup.is_set()


async def test_stage_rejects_injection_and_stores_nothing(
        db: Database, gateway: MailGateway, tenant_id: int) -> None:
    bad = OutgoingMail(ref="x", to=[MailAddress("cal@example.net")],
                       subject="Hi\r\nBcc: victim@example.org", text="x")

    with pytest.raises(InvalidInput) as raised:
        await stage(db, gateway, tenant_id, bad)

    assert raised.value.field == "subject"
    assert await rows(db) == []


async def test_stage_uses_tenant_sender(db: Database, gateway: MailGateway,
                                        tenant_id: int) -> None:
    async with db.transaction() as session:
        await do_update_mail_settings(session, tenant_id, {
            "from_address": "Help@Acme.example", "from_name": "Acme Help"})
    await stage(db, gateway, tenant_id, OutgoingMail(
        ref="x", to=[MailAddress("cal@example.net")], subject="s", text="t",
        from_name="Ada via Acme"))

    [row] = await rows(db)
    assert row.envelope_from == "help@acme.example"
    assert b"From: Ada via Acme <help@acme.example>" in row.content
    assert row.message_id.endswith("@acme.example>")


@pytest.mark.parametrize(("url", "domain"), [
    ("https://portal.example.com", "portal.example.com"),
    ("http://127.0.0.1:8000", "localhost"),
    ("http://localhost:8000", "localhost"),
    ("http://[::1]:8000", "localhost"),
])
def test_default_domain(url: str, domain: str) -> None:
    assert default_domain(url) == domain


async def test_claim_leases_each_row_once(db: Database, gateway: MailGateway,
                                          tenant_id: int) -> None:
    for _ in range(3):
        await stage(db, gateway, tenant_id)

    async with db.transaction() as session:
        first = await claim_due(session, owner="a", lease=timedelta(minutes=5), limit=2)
    async with db.transaction() as session:
        second = await claim_due(session, owner="b", lease=timedelta(minutes=5), limit=10)
    async with db.transaction() as session:
        third = await claim_due(session, owner="c", lease=timedelta(minutes=5), limit=10)

    assert len(first) == 2
    assert len(second) == 1
    assert third == []
    assert {row.lease_owner for row in first} == {"a"}
    assert {row.status for row in [*first, *second]} == {OutboxStatus.SENDING}


async def test_claim_takes_back_expired_lease(db: Database, gateway: MailGateway,
                                              tenant_id: int) -> None:
    await stage(db, gateway, tenant_id)
    async with db.transaction() as session:
        [lost] = await claim_due(session, owner="dead", lease=timedelta(seconds=-1), limit=5)
    async with db.transaction() as session:
        [taken] = await claim_due(session, owner="alive", lease=timedelta(minutes=5), limit=5)
    async with db.transaction() as session:
        stale = await finish(session, lost, owner="dead", status=OutboxStatus.SENT)

    assert taken.id == lost.id
    assert taken.attempts == 1
    assert taken.lease_owner == "alive"
    assert stale is False


async def test_claim_skips_rows_not_due(db: Database, gateway: MailGateway,
                                        tenant_id: int) -> None:
    await stage(db, gateway, tenant_id)
    async with db.transaction() as session:
        [row] = await claim_due(session, owner="a", lease=timedelta(minutes=5), limit=5)
        await finish(session, row, owner="a", status=OutboxStatus.RETRYING,
                     next_attempt_at=utcnow() + timedelta(hours=1), error="421 busy")
    async with db.transaction() as session:
        claimed = await claim_due(session, owner="b", lease=timedelta(minutes=5), limit=5)

    assert claimed == []


def test_transition_from_sent_rejected() -> None:
    with pytest.raises(ValueError, match="sent to sending"):
        check_transition(OutboxStatus.SENT, OutboxStatus.SENDING)


async def test_deliveries_by_ref_of_app_and_tenant(db: Database, gateway: MailGateway,
                                                   tenant_id: int) -> None:
    other_tenant = await create_tenant(db, "globex")
    mine = await stage(db, gateway, tenant_id)
    await stage(db, gateway, other_tenant)
    await stage(db, gateway, tenant_id, app_id="other_app")
    await stage(db, gateway, tenant_id, OutgoingMail(
        ref="ticket:2", to=[MailAddress("x@example.net")], subject="s", text="t"))

    async with db.read() as session:
        found = await deliveries(session, tenant_id=tenant_id, app_id="ticketcloud",
                                 refs=["ticket:1"])

    assert [item.id for item in found] == [mine]
    assert found[0].status == "queued"
    assert found[0].recipients == ("cal@example.net",)
