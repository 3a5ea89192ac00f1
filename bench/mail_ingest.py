"""Inbound mail ingestion benchmark: the mixed corpus through SMTP and through the pipe.

Starts a portal (`run.py` in a subprocess, temporary data folder, 127.0.0.1, its own
SMTP port) with TicketCloud and a support address. The corpus is the committed one of
tests/fixtures/mail/corpus/ without the cases rejected at SMTP time, repeated to N
messages. Each repetition rewrites the corpus's Message-IDs (and so its In-Reply-To and
References) with a round number. So every copy is new, and replies still thread within
their round. Three figures, in one run:

- baseline: `parse_mail` alone on the same messages, in this process (one core);
- SMTP: aiosmtplib with bounded concurrency to the portal's listener; the clock stops
  when every stored row has left status `received` (parsed, threaded into a ticket or
  reply, and committed by TicketCloud's handler);
- pipe: `python -m portal mail receive`, one process per message as an MTA runs it; the
  portal's `portal.mail.inbound` job processes those rows within its 5-second period,
  so the stored and processed rates are given apart. The pipe takes one message per
  process and has no batch mode.

Run: .venv/bin/python bench/mail_ingest.py [--messages 1000] [--concurrency 8]
     [--pipe-messages 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib
from local_portal import LocalPortal, free_port, start_portal, stop_portal

from portal.mail.parse import parse_mail
from portal.registry import installations
from portal.services import build_services
from portal.settings import REPOSITORY_ROOT, Settings
from portal.tenants import do_create_tenant

CORPUS = REPOSITORY_ROOT / "tests" / "fixtures" / "mail" / "corpus"
SUPPORT = "support@corpus.example"
CORPUS_ID = re.compile(rb"<([A-Za-z0-9_.-]+)@corpus\.example>")
PHASE_TIMEOUT_SECONDS = 600.0
TARGET_PER_SECOND = 200


def corpus_messages() -> list[tuple[bytes, str]]:
    """Return the corpus messages that the listener accepts (not the rejected ones),
    each with its expected outcome."""
    messages = []
    for path in sorted(CORPUS.glob("*.eml")):
        expected = path.with_name(path.name.removesuffix(".eml") + ".expected.json")
        outcome = json.loads(expected.read_text("utf-8"))["outcome"]
        if outcome != "rejected":
            messages.append((path.read_bytes(), outcome))
    return messages


def stored_rows(corpus: list[tuple[bytes, str]], count: int) -> int:
    """Return how many rows `count` repeated messages make: a duplicate makes none."""
    return sum(1 for index in range(count) if corpus[index % len(corpus)][1] != "duplicate")


def repeated(corpus: list[tuple[bytes, str]], count: int, *, phase: str) -> list[bytes]:
    """Return `count` messages, the corpus over and over with IDs unique per round and
    a header naming the round, so that messages without a Message-ID differ too."""
    result = []
    for index in range(count):
        tag = f"{phase}{index // len(corpus)}"
        raw = corpus[index % len(corpus)][0]
        raw = CORPUS_ID.sub(rb"<\1." + tag.encode() + rb"@corpus.example>", raw)
        result.append(f"X-Bench-Round: {tag}\r\n".encode() + raw)
    return result


async def create_workspace(portal: LocalPortal) -> None:
    settings = Settings(data_dir=portal.data_dir, database_url=portal.database_url,
                        secret_key="unused-by-installation-" + "x" * 20)
    services = build_services(settings)
    # build_services put the apps folder on sys.path, so TicketCloud imports now.
    from ticketcloud.mail_in import do_set_support_address

    try:
        async with services.db.transaction() as session:
            tenant = await do_create_tenant(session, slug="mailbench", name="Mail bench")
            assert tenant.id is not None
        await installations.install(services.db, services.registry, tenant_id=tenant.id,
                                    app_id="ticketcloud")
        async with services.db.transaction() as session:
            await do_set_support_address(session, tenant.id, SUPPORT)
    finally:
        await services.db.dispose()


def row_counts(portal: LocalPortal) -> tuple[int, int]:
    """Return how many inbound rows exist and how many are still `received`."""
    with sqlite3.connect(portal.data_dir / "miportal.sqlite3", timeout=30) as connection:
        total, waiting = connection.execute(
            "SELECT count(*), coalesce(sum(status = 'received'), 0) "
            "FROM portal_mail_inbound").fetchone()
    return int(total), int(waiting)


def wait_processed(portal: LocalPortal, total: int, started: float) -> float:
    """Wait until `total` rows exist and none is `received`; return the elapsed time."""
    deadline = started + PHASE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        rows, waiting = row_counts(portal)
        if rows >= total and waiting == 0:
            return time.monotonic() - started
        time.sleep(0.05)
    raise SystemExit(f"Rows were not processed within {PHASE_TIMEOUT_SECONDS} s: "
                     f"{row_counts(portal)}")


def baseline(messages: list[bytes]) -> float:
    started = time.process_time()
    for raw in messages:
        parse_mail(raw)
    return len(messages) / (time.process_time() - started)


async def send_smtp(port: int, messages: list[bytes], concurrency: int) -> int:
    queue = list(reversed(messages))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
        await client.connect()
        try:
            while queue:
                raw = queue.pop()
                try:
                    await client.sendmail("bench@customer.example", [SUPPORT], raw)
                except aiosmtplib.SMTPException as error:
                    failures += 1
                    print(f"SMTP failure: {error}", file=sys.stderr)
        finally:
            await client.quit()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failures


def send_pipe(portal: LocalPortal, messages: list[bytes]) -> int:
    failures = 0
    for raw in messages:
        result = subprocess.run(
            [sys.executable, "-m", "portal", "--data-dir", str(portal.data_dir),
             "--database-url", portal.database_url, "mail", "receive", "--recipient",
             SUPPORT, "--sender", "bench@customer.example"],
            input=raw, capture_output=True, cwd=REPOSITORY_ROOT, timeout=60, check=False)
        if result.returncode != 0:
            failures += 1
            print(f"pipe failure {result.returncode}: {result.stderr.decode()}",
                  file=sys.stderr)
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000,
                        help="messages sent over SMTP (default 1000)")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="SMTP connections sending at once (default 8)")
    parser.add_argument("--pipe-messages", type=int, default=50,
                        help="messages stored through the pipe, one process each (default 50)")
    args = parser.parse_args()
    corpus = corpus_messages()
    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f}; corpus of {len(corpus)} messages")
    parse_rate = baseline(repeated(corpus, args.messages, phase="b"))
    print(f"baseline: parse_mail {parse_rate:.0f} messages/s (CPU time, this process)")

    folder = Path(tempfile.mkdtemp(prefix="miportal-mail-bench-"))
    smtp_port = free_port()
    portal = start_portal(folder, env={"MIPORTAL_SMTP_PORT": str(smtp_port)})
    try:
        asyncio.run(create_workspace(portal))
        messages = repeated(corpus, args.messages, phase="s")
        cpu_before, started = portal.cpu_seconds(), time.monotonic()
        failures = asyncio.run(send_smtp(smtp_port, messages, args.concurrency))
        sent = time.monotonic() - started
        elapsed = wait_processed(portal, stored_rows(corpus, args.messages) - failures, started)
        smtp_rate = args.messages / elapsed
        cpu = portal.cpu_seconds() - cpu_before
        print(f"SMTP: {args.messages} messages, {failures} failures; accepted in {sent:.2f} s "
              f"({args.messages / sent:.0f}/s), stored and processed in {elapsed:.2f} s "
              f"({args.messages / elapsed:.0f}/s); server CPU {cpu:.2f} s "
              f"({args.messages / cpu:.0f} messages per CPU second)")

        pipe = repeated(corpus, args.pipe_messages, phase="p")
        total_before = row_counts(portal)[0]
        started = time.monotonic()
        failures = send_pipe(portal, pipe)
        stored = time.monotonic() - started
        elapsed = wait_processed(portal, total_before + stored_rows(corpus, args.pipe_messages)
                                 - failures, started)
        print(f"pipe: {args.pipe_messages} messages, {failures} failures; stored in "
              f"{stored:.2f} s ({args.pipe_messages / stored:.1f}/s, one process each), "
              f"processed by the job {elapsed:.2f} s after the first")
    finally:
        stop_portal(portal)
        shutil.rmtree(folder, ignore_errors=True)
    if smtp_rate < TARGET_PER_SECOND:
        print(f"Target missed: SMTP {smtp_rate:.0f} messages/s, target {TARGET_PER_SECOND}")
        raise SystemExit(1)
    print(f"Target met: SMTP {smtp_rate:.0f} messages/s, target {TARGET_PER_SECOND}")


if __name__ == "__main__":
    main()
