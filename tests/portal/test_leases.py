"""Leases, leased jobs and outbox claims, with two Database engines on one database
standing in for two portal processes: they share nothing but the database, as processes
do."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from portal import leases
from portal.db import Database
from portal.errors import InvalidInput
from portal.jobs import JobRunner, ScheduledJob
from portal.mail.compose import MailAddress, OutgoingMail
from portal.mail.outbound_relay import RelayConfig
from portal.mail.outbox import MailGateway, claim_due
from portal.migrate import PORTAL_BRANCH, build_config, upgrade
from portal.tenants import do_create_tenant
from tests.support import create_database, drop_database


@pytest.fixture
async def databases(tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    """Two engines on one migrated database, as two portal processes have."""
    url = await create_database(tmp_path, "leases")
    first, second = Database(url), Database(url)
    await upgrade(first, [PORTAL_BRANCH], build_config())
    yield first, second
    await first.dispose()
    await second.dispose()
    await drop_database(url)


async def test_claim_free_lease_succeeds(databases: tuple[Database, Database]) -> None:
    first, _ = databases

    assert await leases.claim(first, "job:sample", "process-a", timedelta(seconds=30))


async def test_claim_held_lease_fails_for_other_owner(
        databases: tuple[Database, Database]) -> None:
    first, second = databases
    await leases.claim(first, "job:sample", "process-a", timedelta(seconds=30))

    assert not await leases.claim(second, "job:sample", "process-b", timedelta(seconds=30))


async def test_claim_renews_for_holder(databases: tuple[Database, Database]) -> None:
    first, second = databases
    await leases.claim(first, "job:sample", "process-a", timedelta(seconds=30))

    assert await leases.claim(first, "job:sample", "process-a", timedelta(seconds=30))
    assert not await leases.claim(second, "job:sample", "process-b", timedelta(seconds=30))


async def test_claim_expired_lease_taken_over(databases: tuple[Database, Database]) -> None:
    first, second = databases
    # process-a claims and then "crashes": it never renews or releases.
    await leases.claim(first, "job:sample", "process-a", timedelta(milliseconds=300))
    assert not await leases.claim(second, "job:sample", "process-b", timedelta(seconds=30))

    deadline = time.monotonic() + 5
    taken = False
    while not taken and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        taken = await leases.claim(second, "job:sample", "process-b", timedelta(seconds=30))

    assert taken
    assert not await leases.claim(first, "job:sample", "process-a", timedelta(seconds=30))


async def test_release_frees_lease_at_once(databases: tuple[Database, Database]) -> None:
    first, second = databases
    await leases.claim(first, "job:sample", "process-a", timedelta(hours=1))

    assert not await leases.release(second, "job:sample", "process-b")
    assert await leases.release(first, "job:sample", "process-a")
    assert await leases.claim(second, "job:sample", "process-b", timedelta(hours=1))


async def test_claim_concurrent_has_one_winner(databases: tuple[Database, Database]) -> None:
    first, second = databases
    attempts = [leases.claim(database, f"job:race-{round_}", f"process-{index}",
                             timedelta(seconds=30))
                for round_ in range(10)
                for index, database in enumerate((first, second, first, second))]

    outcomes = await asyncio.gather(*attempts)

    for round_ in range(10):
        assert sum(outcomes[round_ * 4:round_ * 4 + 4]) == 1, round_


async def test_claim_invalid_ttl_rejected(databases: tuple[Database, Database]) -> None:
    first, _ = databases

    with pytest.raises(InvalidInput):
        await leases.claim(first, "job:sample", "process-a", timedelta(0))


async def test_job_competing_runners_never_overlap(
        databases: tuple[Database, Database]) -> None:
    runs: list[tuple[str, float, float]] = []
    enough = asyncio.Event()

    def job_for(owner: str) -> ScheduledJob:
        async def run() -> None:
            started = time.monotonic()
            await asyncio.sleep(0.02)
            runs.append((owner, started, time.monotonic()))
            if len(runs) >= 15:
                enough.set()

        return ScheduledJob("sample.competing", 0.05, run)

    runners = [JobRunner(database, owner=f"process-{index}")
               for index, database in enumerate(databases)]
    for runner in runners:
        runner.add(job_for(runner.owner))
        runner.start()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(enough.wait(), 10)
    for runner in runners:
        await runner.stop()

    assert len(runs) >= 15
    assert len({owner for owner, _, _ in runs}) == 1
    ordered = sorted(runs, key=lambda run: run[1])
    overlaps = [(one, other) for one, other in itertools.pairwise(ordered)
                if other[1] < one[2]]
    assert overlaps == []


async def test_job_runner_stop_hands_job_over(databases: tuple[Database, Database]) -> None:
    ran_by: list[str] = []
    ran = {"process-a": asyncio.Event(), "process-b": asyncio.Event()}

    def job_for(owner: str) -> ScheduledJob:
        async def run() -> None:
            ran_by.append(owner)
            ran[owner].set()

        return ScheduledJob("sample.handover", 0.05, run)

    first = JobRunner(databases[0], owner="process-a")
    first.add(job_for("process-a"))
    first.start()
    await asyncio.wait_for(ran["process-a"].wait(), 10)
    await first.stop()
    # The lease would last 30 s more; stop() released it, so the next interval takes it.
    second = JobRunner(databases[1], owner="process-b")
    second.add(job_for("process-b"))
    second.start()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ran["process-b"].wait(), 5)
    await second.stop()

    assert ran_by[0] == "process-a"
    assert "process-b" in ran_by


async def test_lease_rows_hold_owner(databases: tuple[Database, Database]) -> None:
    first, _ = databases
    await leases.claim(first, "job:sample", "process-a", timedelta(seconds=30))

    async with first.read() as session:
        rows = (await session.exec(text(  # type: ignore[call-overload]
            "SELECT name, owner FROM portal_job_lease"))).all()

    assert [tuple(row) for row in rows] == [("job:sample", "process-a")]


async def test_outbox_competing_claims_disjoint(
        databases: tuple[Database, Database]) -> None:
    first, second = databases
    # With a relay the staged mail is due at once; nothing here connects to it.
    gateway = MailGateway(secret_key="lease test secret key that is long enough",
                          public_url="https://portal.example.com",
                          default_relay=RelayConfig("127.0.0.1", 9))
    async with first.transaction() as session:
        tenant = await do_create_tenant(session, slug="mailer", name="Mailer")
        assert tenant.id is not None
        for index in range(40):
            await gateway.stage(session, tenant_id=tenant.id, app_id="ticketcloud",
                                mail=OutgoingMail(ref=f"test:{index}",
                                                  to=[MailAddress(f"c{index}@example.net")],
                                                  subject=f"Mail {index}", text="Hello.\n"))

    async def claim_all(database: Database, owner: str) -> list[int]:
        claimed: list[int] = []
        while True:
            async with database.transaction() as session:
                rows = await claim_due(session, owner=owner, lease=timedelta(minutes=5),
                                       limit=3)
            if not rows:
                return claimed
            claimed += [row.id for row in rows if row.id is not None]

    claims = await asyncio.gather(*(claim_all(database, f"worker-{index}")
                                    for index, database in enumerate((first, second) * 2)))

    every_claim = [row_id for claim in claims for row_id in claim]
    assert len(every_claim) == 40
    assert len(set(every_claim)) == 40
