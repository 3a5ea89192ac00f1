"""The SMTP listener reuses the route it found for a recipient within one session for
SESSION_ROUTE_SECONDS, and looks it up again after that and in every new session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest
from sqlmodel import col, select

from portal.db import Database
from portal.mail import listener
from portal.mail.inbound import InboundGateway
from portal.mail.inbound_models import InboundMail, MailRoute
from portal.mail.listener import SmtpListener
from portal.registry import installations
from portal.registry.registry import AppRegistry
from portal.sdk import AppContext
from portal.tenants import do_create_tenant
from tests.apps.ticketcloud.conftest import Workspace, receive_mail_at
from tests.apps.ticketcloud.mail_samples import customer_mail
from tests.support import free_port
from ticketcloud.mail_in import do_set_support_address

SUPPORT = "support@acme.test"


class CountingGateway(InboundGateway):
    """The real gateway, counting its recipient lookups."""

    lookups = 0

    async def find_recipient(self, address: str) -> MailRoute | None:
        self.lookups += 1
        return await super().find_recipient(address)


@pytest.fixture
async def gateway(db: Database, registry: AppRegistry, context: AppContext,
                  workspace: Workspace, tmp_path: Path) -> AsyncIterator[CountingGateway]:
    await receive_mail_at(db, registry, context, workspace, SUPPORT)
    gateway = CountingGateway(db, registry, tmp_path / "data")
    yield gateway
    await gateway.stop()


@pytest.fixture
async def port(gateway: CountingGateway) -> AsyncIterator[int]:
    smtp = SmtpListener(gateway, host="127.0.0.1", port=free_port())
    await smtp.start()
    yield smtp.port
    await smtp.stop()


async def send_in_one_session(port: int, count: int) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    try:
        for index in range(count):
            raw = bytes(customer_mail(to=SUPPORT, sender=f"person{index}@customer.example",
                                      subject=f"Request {index}"))
            errors, reply = await client.sendmail("person@customer.example", [SUPPORT], raw)
            assert errors == {}
            assert reply.startswith("2.0.0 Message accepted")
    finally:
        await client.quit()


async def test_session_reuses_route(gateway: CountingGateway, port: int) -> None:
    await send_in_one_session(port, 3)

    assert gateway.lookups == 1


async def test_new_session_looks_up_again(gateway: CountingGateway, port: int) -> None:
    await send_in_one_session(port, 2)
    await send_in_one_session(port, 2)

    assert gateway.lookups == 2


async def test_route_looked_up_after_reuse_time(gateway: CountingGateway, port: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listener, "SESSION_ROUTE_SECONDS", 0.0)

    await send_in_one_session(port, 3)

    assert gateway.lookups == 3


async def open_session(port: int) -> aiosmtplib.SMTP:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
    await client.connect()
    return client


def request(index: int) -> bytes:
    return bytes(customer_mail(to=SUPPORT, sender=f"moved{index}@customer.example",
                               subject=f"Moved {index}"))


async def inbound_tenants(db: Database) -> list[int]:
    async with db.read() as session:
        rows = (await session.exec(select(InboundMail.tenant_id)
                                   .order_by(col(InboundMail.id)))).all()
    return list(rows)


async def test_moved_route_asks_to_retry(db: Database, registry: AppRegistry,
                                         context: AppContext, workspace: Workspace,
                                         gateway: CountingGateway, port: int) -> None:
    """An address that moves to another workspace while a session reuses its route gets
    451 at DATA, and the retry delivers to the new owner, never to the old one."""
    client = await open_session(port)
    try:
        await client.sendmail("person@customer.example", [SUPPORT], request(0))
        async with context.transaction() as session:
            await do_set_support_address(session, workspace.tenant_id, "help@acme.test")
            other = await do_create_tenant(session, slug="globex", name="Globex")
            assert other.id is not None
        await installations.install(db, registry, tenant_id=other.id, app_id="ticketcloud")
        async with context.transaction() as session:
            await do_set_support_address(session, other.id, SUPPORT)

        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.sendmail("person@customer.example", [SUPPORT], request(1))
        await client.sendmail("person@customer.example", [SUPPORT], request(1))
    finally:
        await client.quit()

    assert refused.value.code == 451
    assert await inbound_tenants(db) == [workspace.tenant_id, other.id]


async def test_removed_route_rejected_on_retry(db: Database, context: AppContext,
                                               workspace: Workspace, gateway: CountingGateway,
                                               port: int) -> None:
    client = await open_session(port)
    try:
        await client.sendmail("person@customer.example", [SUPPORT], request(0))
        async with context.transaction() as session:
            await do_set_support_address(session, workspace.tenant_id, "help@acme.test")

        with pytest.raises(aiosmtplib.SMTPDataError) as retry:
            await client.sendmail("person@customer.example", [SUPPORT], request(1))
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as rejected:
            await client.sendmail("person@customer.example", [SUPPORT], request(1))
    finally:
        await client.quit()

    assert retry.value.code == 451
    assert rejected.value.recipients[0].code == 550
    assert await inbound_tenants(db) == [workspace.tenant_id]
