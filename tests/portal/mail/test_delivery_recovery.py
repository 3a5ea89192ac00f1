"""Several queued mails while the SMTP relay is down: once it comes back, each one is
delivered exactly once, however many attempts failed before."""

from __future__ import annotations

from portal.db import Database
from portal.mail.compose import MailAddress, OutgoingMail
from portal.mail.outbox import OutboxStatus
from tests.portal.mail.sink import header, running_sink
from tests.portal.mail.test_delivery import gateway_for, running_worker, stage, wait_for_row
from tests.support import free_port

QUEUED = 6


async def test_delivery_recovery_relay_down_each_mail_once(db: Database,
                                                            tenant_id: int) -> None:
    port = free_port()
    gateway = gateway_for(f"smtp://127.0.0.1:{port}")
    async with running_worker(db, gateway):
        row_ids = [await stage(db, gateway, tenant_id, OutgoingMail(
            ref=f"ticket:{index}", to=[MailAddress(f"reader{index}@example.net")],
            subject=f"Queued {index}", text=f"Mail number {index}.\n"))
            for index in range(QUEUED)]
        failed = [await wait_for_row(db, row_id, lambda row: row.attempts >= 2)
                  for row_id in row_ids]
        with running_sink(port) as sink:
            gateway.wake()
            sent = [await wait_for_row(db, row_id,
                                       lambda row: row.status == OutboxStatus.SENT)
                    for row_id in row_ids]
            received = sink.messages()

    assert all(row.status != OutboxStatus.SENT for row in failed)
    assert [row.status for row in sent] == [OutboxStatus.SENT] * QUEUED
    subjects = sorted(str(header(item, "Subject")) for item in received)
    assert subjects == sorted(f"Queued {index}" for index in range(QUEUED))
    message_ids = {str(header(item, "Message-ID")) for item in received}
    assert len(message_ids) == QUEUED
