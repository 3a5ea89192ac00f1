"""Pruning the outboxes: sent mail and delivered sync items go after the retention,
everything still useful stays."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from portal.db import Database, utcnow
from portal.mail.outbox import OutboxMessage, OutboxStatus, do_prune_sent
from portal.sync.models import OutboxStatus as SyncStatus
from portal.sync.models import SyncOutboxItem
from portal.sync.outbox import do_prune_delivered

DAY = timedelta(days=1)


def mail_row(tenant_id: int, ref: str, status: OutboxStatus, sent_days_ago: int | None,
             ) -> OutboxMessage:
    sent_at = utcnow() - sent_days_ago * DAY if sent_days_ago is not None else None
    return OutboxMessage(tenant_id=tenant_id, app_id="ticketcloud", ref=ref,
                         envelope_from="acme@portal.example.com", envelope_to="cal@example.net",
                         message_id=f"<{ref}@portal.example.com>", content=b"Subject: x\r\n\r\n",
                         status=status.value, sent_at=sent_at,
                         created_at=utcnow() - 60 * DAY)


def sync_item(tenant_id: int, stream: str, status: SyncStatus,
              delivered_days_ago: int | None) -> SyncOutboxItem:
    delivered_at = (utcnow() - delivered_days_ago * DAY
                    if delivered_days_ago is not None else None)
    return SyncOutboxItem(tenant_id=tenant_id, app_id="ticketcloud", stream=stream,
                          body="<change/>", status=status, delivered_at=delivered_at,
                          created_at=utcnow() - 60 * DAY)


async def test_prune_sent_deletes_only_old_sent_mail(db: Database, tenant_id: int) -> None:
    async with db.transaction() as session:
        session.add_all([
            mail_row(tenant_id, "old-sent", OutboxStatus.SENT, 40),
            mail_row(tenant_id, "new-sent", OutboxStatus.SENT, 2),
            mail_row(tenant_id, "old-failed", OutboxStatus.FAILED, None),
            mail_row(tenant_id, "waiting", OutboxStatus.NO_RELAY, None),
        ])

    async with db.transaction() as session:
        pruned = await do_prune_sent(session, older_than=utcnow() - 30 * DAY)

    async with db.read() as session:
        left = (await session.exec(select(OutboxMessage.ref)
                                   .order_by(col(OutboxMessage.ref)))).all()
    assert pruned == 1
    assert list(left) == ["new-sent", "old-failed", "waiting"]


async def test_prune_delivered_keeps_pending_and_latest_per_stream(
        db: Database, tenant_id: int) -> None:
    items = [
        sync_item(tenant_id, "ticket:1", SyncStatus.DELIVERED, 50),
        sync_item(tenant_id, "ticket:1", SyncStatus.DELIVERED, 45),
        sync_item(tenant_id, "ticket:1", SyncStatus.DELIVERED, 40),
        sync_item(tenant_id, "ticket:2", SyncStatus.DELIVERED, 50),
        sync_item(tenant_id, "ticket:2", SyncStatus.PENDING, None),
        sync_item(tenant_id, "ticket:3", SyncStatus.DELIVERED, 40),
        sync_item(tenant_id, "ticket:3", SyncStatus.DELIVERED, 1),
    ]
    async with db.transaction() as session:
        for item in items:
            session.add(item)
            await session.flush()
    ids = [item.id for item in items]

    async with db.transaction() as session:
        pruned = await do_prune_delivered(session, older_than=utcnow() - 30 * DAY)

    async with db.read() as session:
        left = (await session.exec(select(SyncOutboxItem.id)
                                   .order_by(col(SyncOutboxItem.id)))).all()
    # ticket:1 keeps its latest delivery, ticket:2 its only one and the pending item,
    # ticket:3 its recent delivery.
    assert pruned == 3
    assert list(left) == [ids[2], ids[3], ids[4], ids[6]]
