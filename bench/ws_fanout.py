"""Fan-out benchmark: how long an event takes to reach every connected desktop.

Starts a portal (`run.py` in a subprocess, temporary data folder, 127.0.0.1), creates one
workspace with an admin and N agents, each agent with a session stored directly (no
password hashing), and connects one desktop per agent. The admin then publishes M
`hello.announcement` events to the agent role through the Hello app's HTTP API, one
every --interval seconds.

Latency is the desktop's receive time minus the event's `time`, which the server stamps
when it stages the event, read from the same machine clock. The `time` field has
millisecond resolution and is truncated, so figures may read up to 1 ms high. A
baseline phase first sends the same events to a single desktop.

Run: .venv/bin/python bench/ws_fanout.py [--desktops 1000] [--events 100]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

import httpx
import uvloop
from local_portal import LocalPortal, raise_open_file_limit, start_portal, stop_portal
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Origin
from websockets.uri import parse_uri

from portal.auth.sessions import do_create_session, do_issue_api_token
from portal.db import Database
from portal.models import Role
from portal.registry import installations
from portal.services import build_services
from portal.settings import Settings
from portal.tenants import do_create_tenant, do_create_user

TOPIC_MARK = b'"topic":"hello.announcement"'
P99_TARGET_MS = 50.0
RSS_TARGET_MIB = 250.0


class Desktop(asyncio.Protocol):
    """One desktop's socket on the websockets sans-I/O protocol: no task and no queue
    per connection, so the client adds as little as possible to the measured latency.
    It records every message after `ready` with the time its bytes arrived."""

    def __init__(self, url: str, *, origin: str, cookie: str) -> None:
        # Offers permessage-deflate as browsers do, and the server decides whether to use it.
        self.protocol = ClientProtocol(parse_uri(url), origin=Origin(origin),
                                       extensions=enable_client_permessage_deflate(None))
        self.cookie = cookie
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received: list[tuple[float, bytes]] = []
        self.announcements = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        request = self.protocol.connect()
        request.headers["Cookie"] = f"miportal_session={self.cookie}"
        self.protocol.send_request(request)
        self._flush()

    def data_received(self, data: bytes) -> None:
        received_at = time.time()
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if event.status_code != 101 and not self.ready.done():
                    self.ready.set_exception(RuntimeError(
                        f"handshake rejected with HTTP {event.status_code}"))
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._on_text(received_at, bytes(event.data))
        self._flush()

    def _on_text(self, received_at: float, text: bytes) -> None:
        if not self.ready.done():
            if json.loads(text)["type"] == "ready":
                self.ready.set_result(None)
            return
        # Parsed after the run, because counting needs only a substring test.
        self.received.append((received_at, text))
        if TOPIC_MARK in text:
            self.announcements += 1

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost: {exc!r}"))

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.protocol.send_close(1000)
            self._flush()
            self.transport.close()


@dataclass(frozen=True)
class Workspace:
    admin_token: str
    cookies: list[str]


@dataclass(frozen=True)
class Deliveries:
    latencies_ms: list[float]
    # Per event: the time between its first and its last arrival at a desktop.
    spreads_ms: list[float]
    missing: int
    # Per event seq: the event's `time` and its latest arrival, as Unix timestamps.
    last_arrivals: dict[int, tuple[float, float]]


@dataclass(frozen=True)
class Phase:
    name: str
    desktops: int
    deliveries: Deliveries
    publish_seconds: float
    server_cpu_seconds: float

    @property
    def latencies_ms(self) -> list[float]:
        return self.deliveries.latencies_ms

    @property
    def missing(self) -> int:
        return self.deliveries.missing

    def percentile(self, fraction: float) -> float:
        return percentile(self.latencies_ms, fraction)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def create_workspace(portal: LocalPortal, agents: int) -> Workspace:
    """Create the workspace, its users and their sessions, and install Hello."""
    db = Database(portal.database_url)
    try:
        async with db.transaction() as session:
            tenant = await do_create_tenant(session, slug="bench", name="Benchmark")
            assert tenant.id is not None
            admin = await do_create_user(session, tenant_id=tenant.id,
                                         email="admin@bench.example", name="Bench Admin",
                                         role=Role.ADMIN.value, password=None)
            admin_token = await do_issue_api_token(session, admin, name="bench")
            cookies = []
            for index in range(agents):
                agent = await do_create_user(session, tenant_id=tenant.id,
                                             email=f"agent{index}@bench.example",
                                             name=f"Agent {index}", role=Role.AGENT.value,
                                             password=None)
                cookie, _ = await do_create_session(session, agent, hours=2)
                cookies.append(cookie)
    finally:
        await db.dispose()
    settings = Settings(data_dir=portal.data_dir, database_url=portal.database_url,
                        secret_key="unused-by-installation-" + "x" * 20)
    services = build_services(settings)
    try:
        await installations.install(services.db, services.registry, tenant_id=tenant.id,
                                    app_id="hello")
    finally:
        await services.db.dispose()
    return Workspace(admin_token, cookies)


async def open_desktop(portal: LocalPortal, cookie: str, *, after: int) -> Desktop:
    loop = asyncio.get_running_loop()
    host, port = portal.base_url.removeprefix("http://").split(":")
    _, desktop = await loop.create_connection(
        lambda: Desktop(f"{portal.ws_url}?after={after}", origin=portal.base_url,
                        cookie=cookie), host, int(port))
    await asyncio.wait_for(desktop.ready, 60)
    return desktop


async def open_desktops(portal: LocalPortal, cookies: Sequence[str], *,
                        after: int) -> list[Desktop]:
    opening = asyncio.Semaphore(64)

    async def open_one(cookie: str) -> Desktop:
        async with opening:
            return await open_desktop(portal, cookie, after=after)

    return list(await asyncio.gather(*(open_one(cookie) for cookie in cookies)))


async def publish(client: httpx.AsyncClient, count: int, *, interval: float,
                  label: str) -> list[int]:
    """Publish `count` announcements to agents, one every `interval` seconds."""
    seqs = []
    started = time.monotonic()
    for index in range(count):
        response = await client.post("/apps/hello/api/announcements", json={
            "text": f"{label} event {index}", "role": Role.AGENT.value})
        response.raise_for_status()
        seqs.append(int(response.json()["seq"]))
        next_at = started + (index + 1) * interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return seqs


async def wait_for_delivery(desktops: Sequence[Desktop], expected: int, *,
                            seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while any(desktop.announcements < expected for desktop in desktops):
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


def latencies(desktops: Sequence[Desktop], seqs: set[int]) -> Deliveries:
    """Collect the latency of every announcement with a seq in `seqs`, each event's
    spread, and how many (desktop, event) pairs never arrived."""
    found: list[float] = []
    arrivals: dict[int, list[float]] = {}
    stamped: dict[int, float] = {}
    missing = 0
    for desktop in desktops:
        seen = set()
        for received_at, text in desktop.received:
            if TOPIC_MARK not in text:
                continue
            event = json.loads(text)["event"]
            if event["seq"] not in seqs:
                continue
            seen.add(event["seq"])
            sent_at = datetime.fromisoformat(event["time"]).timestamp()
            found.append((received_at - sent_at) * 1000)
            arrivals.setdefault(event["seq"], []).append(received_at)
            stamped[event["seq"]] = sent_at
        missing += len(seqs - seen)
    spreads = [(max(times) - min(times)) * 1000 for times in arrivals.values()]
    last_arrivals = {seq: (stamped[seq], max(times)) for seq, times in arrivals.items()}
    return Deliveries(found, spreads, missing, last_arrivals)


async def run_phase(name: str, portal: LocalPortal, client: httpx.AsyncClient,
                    desktops: Sequence[Desktop], *, events: int, interval: float,
                    already: int) -> Phase:
    # The client's own garbage collection pauses would count as delivery latency.
    gc.collect()
    gc.disable()
    cpu_before = portal.cpu_seconds()
    started = time.monotonic()
    try:
        seqs = await publish(client, events, interval=interval, label=name)
        publish_seconds = time.monotonic() - started
        await wait_for_delivery(desktops, already + events, seconds=60)
    finally:
        gc.enable()
    return Phase(name, len(desktops), latencies(desktops, set(seqs)), publish_seconds,
                 portal.cpu_seconds() - cpu_before)


def report(phase: Phase, *, show_slowest: int) -> None:
    if not phase.latencies_ms:
        print(f"{phase.name}: nothing delivered ({phase.missing} missing)")
        return
    events = len(phase.deliveries.spreads_ms)
    print(f"{phase.name}: {phase.desktops} desktops, {len(phase.latencies_ms)} deliveries, "
          f"{phase.missing} missing, published in {phase.publish_seconds:.1f} s; server CPU "
          f"{phase.server_cpu_seconds * 1000 / max(events, 1):.1f} ms per event")
    print(f"  latency ms: p50 {phase.percentile(0.50):.1f}  p90 {phase.percentile(0.90):.1f}"
          f"  p99 {phase.percentile(0.99):.1f}  max {max(phase.latencies_ms):.1f}"
          f"  mean {statistics.fmean(phase.latencies_ms):.1f}")
    spreads = phase.deliveries.spreads_ms
    if phase.desktops > 1 and spreads:
        print(f"  first to last desktop per event, ms: p50 {percentile(spreads, 0.5):.1f}"
              f"  p99 {percentile(spreads, 0.99):.1f}")
    slowest = sorted(phase.deliveries.last_arrivals.items(),
                     key=lambda item: item[1][0] - item[1][1])[:show_slowest]
    for seq, (stamped_at, last_at) in slowest:
        print(f"  slow event seq {seq}: stamped {stamped_at:.3f}, last arrival "
              f"{(last_at - stamped_at) * 1000:.1f} ms later")


async def benchmark(args: argparse.Namespace, portal: LocalPortal) -> int:
    started = time.monotonic()
    workspace = await create_workspace(portal, args.desktops)
    print(f"Created 1 admin and {args.desktops} agents with sessions in "
          f"{time.monotonic() - started:.1f} s; server RSS {portal.rss_mib():.1f} MiB")
    # The first event is the Hello installation, so desktops start after it.
    first = await open_desktops(portal, workspace.cookies[:1], after=1)
    headers = {"Authorization": f"Bearer {workspace.admin_token}"}
    async with httpx.AsyncClient(base_url=portal.base_url, headers=headers,
                                 timeout=30) as client:
        baseline = await run_phase("baseline", portal, client, first, events=args.events,
                                   interval=args.interval, already=0)
        report(baseline, show_slowest=args.show_slowest)

        started = time.monotonic()
        others = await open_desktops(portal, workspace.cookies[1:], after=1 + args.events)
        desktops = first + others
        print(f"Connected {len(desktops)} desktops in {time.monotonic() - started:.1f} s; "
              f"server RSS {portal.rss_mib():.1f} MiB")
        fanout = await run_phase("fan-out", portal, client, desktops, events=args.events,
                                 interval=args.interval, already=args.events)
        report(fanout, show_slowest=args.show_slowest)
    rss = portal.rss_mib()
    print(f"Server RSS with {len(desktops)} desktops: {rss:.1f} MiB "
          f"(peak {portal.peak_rss_mib():.1f} MiB; target <= {RSS_TARGET_MIB:.0f})")
    if baseline.latencies_ms and fanout.latencies_ms:
        print(f"Fan-out / baseline: p50 x{fanout.percentile(0.5) / baseline.percentile(0.5):.1f}"
              f", p99 x{fanout.percentile(0.99) / baseline.percentile(0.99):.1f}")
    for desktop in desktops:
        desktop.close()
    passed = (fanout.missing == 0 and bool(fanout.latencies_ms)
              and fanout.percentile(0.99) <= P99_TARGET_MS and rss <= RSS_TARGET_MIB)
    print(f"Targets (p99 <= {P99_TARGET_MS:.0f} ms, RSS <= {RSS_TARGET_MIB:.0f} MiB, nothing "
          f"missing): {'met' if passed else 'MISSED'}")
    return 0 if passed else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--desktops", type=int, default=1000,
                        help="desktops to connect, one per agent (default 1000)")
    parser.add_argument("--events", type=int, default=100,
                        help="events per phase (default 100)")
    parser.add_argument("--interval", type=float, default=0.1,
                        help="seconds between the starts of two publishes (default 0.1)")
    parser.add_argument("--show-slowest", type=int, default=0, metavar="N",
                        help="print the N events whose last delivery came latest, with "
                             "their Unix time stamps (default 0)")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep the temporary data folder and print its path")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not 1 <= args.desktops <= 5000 or not 1 <= args.events <= 1000:
        raise SystemExit("Use 1 to 5000 desktops and 1 to 1000 events.")
    # Each desktop takes a socket in this process and one in the server.
    limit = raise_open_file_limit(args.desktops + 512)
    print(f"MiPortal WebSocket fan-out: {args.desktops} desktops, {args.events} events every "
          f"{args.interval} s; {platform.node()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, open files limit {limit}")
    data_dir = Path(tempfile.mkdtemp(prefix="miportal-bench-"))
    portal = start_portal(data_dir)
    print(f"Server pid {portal.process.pid}, data in {data_dir}")
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(asyncio.wait_for(benchmark(args, portal), timeout=900))
    finally:
        stop_portal(portal)
        if args.keep_data:
            print(f"Data and server log kept in {data_dir}")
        else:
            shutil.rmtree(data_dir)


if __name__ == "__main__":
    sys.exit(main())
