"""Where the raw bytes of a stored message go: a small message's into the database with
its row, a big one's into a fsynced file. Processing reads either, and the store's
commit on SQLite waits until it is on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from portal.db import Database
from portal.mail import inbound
from portal.mail.inbound import InboundGateway
from portal.mail.inbound_models import InboundRaw, InboundStatus
from portal.registry.registry import AppRegistry
from portal.sdk import AppContext
from tests.apps.ticketcloud.conftest import Workspace, receive_mail_at
from tests.apps.ticketcloud.mail_samples import customer_mail

SUPPORT = "support@acme.test"


@pytest.fixture
async def gateway(db: Database, registry: AppRegistry, context: AppContext,
                  workspace: Workspace, tmp_path: Path) -> InboundGateway:
    await receive_mail_at(db, registry, context, workspace, SUPPORT)
    return InboundGateway(db, registry, tmp_path / "data")


def raw_mail(subject: str, body: str = "Please help.") -> bytes:
    return bytes(customer_mail(to=SUPPORT, sender="cal@customer.example", subject=subject,
                               body=body))


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


async def kept_bytes(db: Database, inbound_id: int) -> bytes | None:
    async with db.read() as session:
        return (await session.exec(select(InboundRaw.content).where(  # type: ignore[call-overload]
            InboundRaw.inbound_id == inbound_id))).scalar()


async def test_small_message_kept_in_database(gateway: InboundGateway, db: Database) -> None:
    raw = raw_mail("Printer broken")

    stored = await gateway.store(raw, recipients=[SUPPORT])
    status = await gateway.process(stored[0].inbound_id)

    assert await kept_bytes(db, stored[0].inbound_id) == raw
    assert not gateway.raw_path(sha256(raw)).exists()
    assert status is InboundStatus.PROCESSED


async def test_big_message_written_to_file(gateway: InboundGateway, db: Database,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    raw = raw_mail("Printer log attached", body="log line\n" * 200)
    monkeypatch.setattr(inbound, "INLINE_MAX_BYTES", len(raw) - 1)

    stored = await gateway.store(raw, recipients=[SUPPORT])
    status = await gateway.process(stored[0].inbound_id)

    assert await kept_bytes(db, stored[0].inbound_id) is None
    assert gateway.raw_path(sha256(raw)).read_bytes() == raw
    assert status is InboundStatus.PROCESSED


async def test_duplicate_keeps_one_copy(gateway: InboundGateway, db: Database) -> None:
    raw = raw_mail("Sent twice")

    first = await gateway.store(raw, recipients=[SUPPORT])
    again = await gateway.store(raw, recipients=[SUPPORT])

    assert again[0].duplicate
    assert again[0].inbound_id == first[0].inbound_id
    async with db.read() as session:
        count = len((await session.exec(select(InboundRaw.inbound_id))).all())  # type: ignore[call-overload]
    assert count == 1


async def test_store_commit_waits_for_disk(gateway: InboundGateway, db: Database) -> None:
    """On SQLite the store's transaction runs with synchronous=FULL, and the next
    transaction on the connection goes back to NORMAL."""
    if db.dialect != "sqlite":
        pytest.skip("PostgreSQL's commits are durable by default")
    levels: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("PRAGMA synchronous=") or statement.startswith("BEGIN"):
            levels.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        await gateway.store(raw_mail("Durable"), recipients=[SUPPORT])
        async with db.transaction() as session:
            await session.exec(select(InboundRaw.inbound_id))  # type: ignore[call-overload]
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)

    full = levels.index("PRAGMA synchronous=FULL")
    assert levels[full + 1] == "BEGIN IMMEDIATE"
    assert "PRAGMA synchronous=NORMAL" in levels[full + 2:]

