"""Storing inbound mail with group commit. Messages stored at the same time share one
transaction, and each store returns only once its row is committed. A failing message
fails alone, and the others stored with it are committed."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from portal.db import Database
from portal.mail import inbound
from portal.mail.inbound import InboundGateway, StorageFailed, StoredMail
from portal.mail.inbound_models import InboundMail, InboundStatus, MailRoute
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


@pytest.fixture
def commits(db: Database) -> Iterator[list[int]]:
    """The number of commits on the database's connections, counted as they happen."""
    count = [0]

    def counted(_connection: Any) -> None:
        count[0] += 1

    event.listen(db.engine.sync_engine, "commit", counted)
    yield count
    event.remove(db.engine.sync_engine, "commit", counted)


def raw_mail(index: int) -> bytes:
    return bytes(customer_mail(to=SUPPORT, sender=f"person{index}@customer.example",
                               subject=f"Request {index}"))


async def row_status(db: Database, inbound_id: int) -> InboundStatus | None:
    async with db.read() as session:
        row = await session.get(InboundMail, inbound_id)
    return row.status if row is not None else None


async def store_and_check(gateway: InboundGateway, db: Database,
                          raw: bytes) -> tuple[list[StoredMail], InboundStatus | None]:
    """Store `raw` and return the rows with the status that another session reads at
    the moment `store` returns, when the SMTP listener would reply 250."""
    stored = await gateway.store(raw, recipients=[SUPPORT], parse=True)
    return stored, await row_status(db, stored[0].inbound_id)


async def test_concurrent_stores_share_commits(gateway: InboundGateway, db: Database,
                                               commits: list[int],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Four messages finish writing their files at the same moment (a barrier in the
    worker threads), as concurrent SMTP sessions do under load, so their rows share
    commits."""
    barrier = threading.Barrier(4, timeout=30)
    prepare = gateway._prepare

    def prepare_together(*args: Any) -> Any:
        result = prepare(*args)
        barrier.wait()
        return result

    monkeypatch.setattr(gateway, "_prepare", prepare_together)
    before = commits[0]

    results = await asyncio.gather(*(store_and_check(gateway, db, raw_mail(index))
                                     for index in range(4)))

    assert [status for _stored, status in results] == [InboundStatus.RECEIVED] * 4
    ids = [stored[0].inbound_id for stored, _status in results]
    assert len(set(ids)) == 4
    assert not any(stored[0].duplicate for stored, _status in results)
    # Without RCPT routes, `store` reads them in read sessions, which commit nothing.
    assert commits[0] - before < 4


async def test_duplicates_in_one_group_stored_once(gateway: InboundGateway,
                                                   db: Database) -> None:
    raw = raw_mail(1)

    first, second = await asyncio.gather(
        gateway.store(raw, recipients=[SUPPORT]), gateway.store(raw, recipients=[SUPPORT]))

    assert first[0].inbound_id == second[0].inbound_id
    assert sorted([first[0].duplicate, second[0].duplicate]) == [False, True]


async def test_failing_store_fails_alone(gateway: InboundGateway, db: Database,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The third message's duplicate check fails: its store raises StorageFailed (the
    listener replies 451), and the others, stored at the same moment, are committed.
    tests/portal/mail/test_group_commit.py checks the fallback within one group."""
    raws = [raw_mail(index) for index in range(4)]
    failing = hashlib.sha256(raws[2]).hexdigest()
    find_duplicate = inbound._find_duplicate
    barrier = threading.Barrier(4, timeout=30)
    prepare = gateway._prepare

    def prepare_together(*args: Any) -> Any:
        result = prepare(*args)
        barrier.wait()
        return result

    async def fail_for_one(session: Any, route: MailRoute, sha256: str,
                           message_id: str | None) -> InboundMail | None:
        if sha256 == failing:
            raise OperationalError("SELECT", {}, Exception("disk I/O error"))
        return await find_duplicate(session, route, sha256, message_id)

    monkeypatch.setattr(gateway, "_prepare", prepare_together)
    monkeypatch.setattr(inbound, "_find_duplicate", fail_for_one)

    results = await asyncio.gather(*(store_and_check(gateway, db, raw) for raw in raws),
                                   return_exceptions=True)

    assert isinstance(results[2], StorageFailed)
    for index in (0, 1, 3):
        result = results[index]
        assert isinstance(result, tuple)
        assert result[1] is InboundStatus.RECEIVED
    async with db.read() as session:
        rows = (await session.exec(select(InboundMail))).all()
    assert sorted(row.sha256 for row in rows) == sorted(
        hashlib.sha256(raw).hexdigest() for index, raw in enumerate(raws) if index != 2)
