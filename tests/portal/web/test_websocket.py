"""The desktop WebSocket against a running portal, with real WebSocket clients.

Events come from the Hello example app: a greeting goes to its sender, an announcement
(admins only) to every user of one role of the sender's workspace.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin

from portal.auth.sessions import do_create_session
from portal.db import Database
from portal.events.log import do_prune_events
from portal.models import Role, User
from tests.support import (
    Factory,
    PortalServer,
    UserInfo,
    session_cookie,
    signed_in,
    start_server,
    stop_server,
)

Message = dict[str, Any]
TIMEOUT = 10.0
MAX_FRAME = 64 * 1024
SEND_QUEUE = 8


@dataclass(frozen=True)
class Account:
    """A signed-in user: the session cookie and the CSRF token of that session."""

    user: UserInfo
    cookie: str
    csrf_token: str


def sign_in(server: PortalServer, user: UserInfo) -> Account:
    with signed_in(server, user) as client:
        return Account(user, session_cookie(client), client.headers["X-CSRF-Token"])


@pytest.fixture(scope="module")
def tuned_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    """A portal of its own with a short send queue and a fast heartbeat, so tests can
    overflow a queue and wait for a heartbeat quickly."""
    server = start_server(tmp_path_factory.mktemp("tuned-portal"), seed_demo=False, env={
        "MIPORTAL_WS_SEND_QUEUE": str(SEND_QUEUE), "MIPORTAL_WS_HEARTBEAT_SECONDS": "0.5"})
    yield server
    stop_server(server)


@pytest.fixture
def agent(server: PortalServer, factory: Factory) -> Account:
    """An agent of a new workspace."""
    return sign_in(server, factory.user(factory.tenant(), Role.AGENT))


@pytest.fixture
def greeter(server: PortalServer, factory: Factory) -> Account:
    """An agent of a new workspace that has Hello installed, so it can send greetings."""
    tenant = factory.tenant()
    factory.install(tenant, "hello")
    return sign_in(server, factory.user(tenant, Role.AGENT))


def desktop(server: PortalServer, account: Account | None, *, after: int | str | None = None,
            origin: str | None = None, send_origin: bool = True,
            headers: dict[str, str] | None = None, **options: Any) -> connect:
    """Return a connect() for /ws as `account`'s desktop. The Origin header is `origin`,
    by default the portal's own, or absent without `send_origin`."""
    url = server.ws_url if after is None else f"{server.ws_url}?after={after}"
    all_headers = dict(headers or {})
    if account is not None:
        all_headers["Cookie"] = f"miportal_session={account.cookie}"
    origin_header = Origin(origin or server.base_url) if send_origin else None
    return connect(url, origin=origin_header, additional_headers=all_headers, proxy=None,
                   open_timeout=TIMEOUT, **options)


@asynccontextmanager
async def api(server: PortalServer, account: Account) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
            base_url=server.base_url, timeout=TIMEOUT,
            cookies={"miportal_session": account.cookie},
            headers={"X-CSRF-Token": account.csrf_token}) as client:
        yield client


async def greet(server: PortalServer, account: Account, text: str) -> None:
    async with api(server, account) as client:
        response = await client.post("/apps/hello/api/greetings", json={"text": text})
    assert response.status_code == 201, response.text


async def announce(client: httpx.AsyncClient, role: Role, text: str) -> int:
    response = await client.post("/apps/hello/api/announcements",
                                 json={"text": text, "role": role.value})
    assert response.status_code == 201, response.text
    return int(response.json()["seq"])


async def receive(socket: ClientConnection, *, seconds: float = TIMEOUT) -> Message:
    """Return the next message other than a heartbeat, waiting at most `seconds`."""
    while True:
        message: Message = json.loads(await asyncio.wait_for(socket.recv(), seconds))
        if message["type"] != "heartbeat":
            return message


async def receive_until_ready(socket: ClientConnection) -> tuple[list[Message], Message]:
    """Return the replayed events (as EVENT objects) and the `ready` message."""
    events: list[Message] = []
    while True:
        message = await receive(socket)
        if message["type"] == "ready":
            return events, message
        assert message["type"] == "event", message
        events.append(message["event"])


async def receive_events(socket: ClientConnection, count: int, *,
                         topic_prefix: str = "hello.") -> list[Message]:
    """Return the next `count` events whose topic starts with `topic_prefix`."""
    events: list[Message] = []
    deadline = time.monotonic() + TIMEOUT
    while len(events) < count:
        message = await receive(socket, seconds=max(deadline - time.monotonic(), 0.01))
        if message["type"] == "event" and message["event"]["topic"].startswith(topic_prefix):
            events.append(message["event"])
    return events


async def close_code(socket: ClientConnection) -> tuple[int | None, list[Message]]:
    """Read until the server closes, and return its close code and the messages before it."""
    messages = []
    try:
        while True:
            messages.append(json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT)))
    except ConnectionClosed as closed:
        return (closed.rcvd.code if closed.rcvd else None), messages


async def ping(socket: ClientConnection) -> Message:
    await socket.send(json.dumps({"type": "ping"}))
    return await receive(socket)


async def rejected_status(opening: connect) -> int:
    with pytest.raises(InvalidStatus) as raised:
        async with opening:
            pass
    return raised.value.response.status_code


async def new_session(server: PortalServer, user: UserInfo, *, hours: int) -> str:
    """Store a session for `user` directly and return its cookie value."""
    db = Database(server.database_url)
    try:
        async with db.transaction() as session:
            row = await session.get(User, user.id)
            assert row is not None
            cookie, _ = await do_create_session(session, row, hours=hours)
    finally:
        await db.dispose()
    return cookie


# Handshake


async def test_handshake_without_session_is_403(server: PortalServer) -> None:
    assert await rejected_status(desktop(server, None)) == 403


@pytest.mark.parametrize("origin", [
    "http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1"])
async def test_handshake_foreign_origin_is_403(server: PortalServer, agent: Account,
                                               origin: str) -> None:
    if origin == "https://127.0.0.1":
        origin = server.base_url.replace("http://", "https://")

    assert await rejected_status(desktop(server, agent, origin=origin)) == 403


async def test_handshake_session_without_origin_is_403(server: PortalServer,
                                                       agent: Account) -> None:
    assert await rejected_status(desktop(server, agent, send_origin=False)) == 403


async def test_handshake_expired_session_is_403(server: PortalServer, agent: Account) -> None:
    expired = Account(agent.user, await new_session(server, agent.user, hours=0), "")
    live = Account(agent.user, await new_session(server, agent.user, hours=1), "")

    assert await rejected_status(desktop(server, expired)) == 403
    async with desktop(server, live) as socket:
        _, ready = await receive_until_ready(socket)
    assert ready["type"] == "ready"


async def test_handshake_forged_session_is_403(server: PortalServer, agent: Account) -> None:
    altered = agent.cookie[:-1] + ("A" if agent.cookie[-1] != "A" else "B")
    forgeries = [secrets.token_urlsafe(32), altered, "", "x" * 200]

    for cookie in forgeries:
        forged = Account(agent.user, cookie, "")
        assert await rejected_status(desktop(server, forged)) == 403, cookie


async def test_handshake_signed_out_session_is_403(server: PortalServer,
                                                   agent: Account) -> None:
    async with api(server, agent) as client:
        response = await client.post("/logout")
    assert response.status_code == 303

    assert await rejected_status(desktop(server, agent)) == 403


async def test_sign_out_closes_only_that_sessions_sockets(
        server: PortalServer, factory: Factory) -> None:
    tenant = await asyncio.to_thread(factory.tenant)
    user = await asyncio.to_thread(factory.user, tenant, Role.AGENT)
    leaving = await asyncio.to_thread(sign_in, server, user)
    staying = await asyncio.to_thread(sign_in, server, user)

    async with desktop(server, leaving) as closed_socket, \
            desktop(server, staying) as open_socket:
        await receive_until_ready(closed_socket)
        await receive_until_ready(open_socket)
        async with api(server, leaving) as client:
            response = await client.post("/logout")
        code, _ = await close_code(closed_socket)
        pong = await ping(open_socket)

    assert response.status_code == 303
    assert code == 1008
    assert pong == {"type": "pong"}


async def test_handshake_api_token_without_origin_is_accepted(
        server: PortalServer, factory: Factory, greeter: Account) -> None:
    token = await asyncio.to_thread(factory.api_token, greeter.user)
    bearer = {"Authorization": f"Bearer {token}"}

    async with desktop(server, None, send_origin=False, headers=bearer) as socket:
        await greet(server, greeter, "via token")
        events = await receive_events(socket, 1)

    assert events[0]["payload"]["text"] == "via token"


async def test_handshake_api_token_with_foreign_origin_is_403(
        server: PortalServer, factory: Factory, agent: Account) -> None:
    token = await asyncio.to_thread(factory.api_token, agent.user)
    bearer = {"Authorization": f"Bearer {token}"}

    status = await rejected_status(desktop(server, None, origin="http://evil.example",
                                           headers=bearer))

    assert status == 403


@pytest.mark.parametrize("after", ["x", "-1", "1.5", "9" * 19, "%20"])
async def test_handshake_invalid_after_sends_error_then_1008(
        server: PortalServer, agent: Account, after: str) -> None:
    async with desktop(server, agent, after=after) as socket:
        code, messages = await close_code(socket)

    assert code == 1008
    assert len(messages) == 1
    assert messages[0]["type"] == "error"
    assert messages[0]["error"]["code"] == "invalid_input"
    assert messages[0]["error"]["field"] == "after"
    assert repr(after.replace("%20", " ")) in messages[0]["error"]["message"]


# Events and delivery


async def test_event_has_documented_fields(server: PortalServer, greeter: Account) -> None:
    async with desktop(server, greeter) as socket:
        await receive_until_ready(socket)
        await greet(server, greeter, "Hi <b>there</b>")
        received_at = datetime.now(UTC)
        event = (await receive_events(socket, 1))[0]

    assert set(event) == {"id", "seq", "tenant", "topic", "time", "payload", "notification"}
    assert re.fullmatch(r"[0-9a-f-]{36}", event["id"])
    assert isinstance(event["seq"], int)
    assert event["tenant"] == greeter.user.tenant.id
    assert event["topic"] == "hello.greeting"
    assert event["payload"]["text"] == "Hi <b>there</b>"
    assert event["notification"]["title"] == "Hello"
    assert event["notification"]["body"] == "Hi <b>there</b>"
    assert event["notification"]["open"]["app"] == "hello"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["time"])
    assert abs(received_at - datetime.fromisoformat(event["time"])) < timedelta(seconds=30)


async def test_desktop_receives_own_events_in_seq_order(server: PortalServer,
                                                        greeter: Account) -> None:
    texts = [f"greeting {index}" for index in range(8)]

    async with desktop(server, greeter) as socket:
        await receive_until_ready(socket)
        for text in texts:
            await greet(server, greeter, text)
        events = await receive_events(socket, len(texts))

    seqs = [event["seq"] for event in events]
    assert [event["payload"]["text"] for event in events] == texts
    assert seqs == list(range(seqs[0], seqs[0] + len(texts)))


async def test_ready_reports_last_seq(server: PortalServer, greeter: Account) -> None:
    await greet(server, greeter, "before connecting")

    async with desktop(server, greeter) as socket:
        events, ready = await receive_until_ready(socket)

    assert events[-1]["payload"] == {"id": events[-1]["payload"]["id"],
                                     "text": "before connecting"}
    assert ready == {"type": "ready", "last_seq": events[-1]["seq"], "complete": True}


async def test_resume_after_sends_exactly_the_missed_events(server: PortalServer,
                                                            greeter: Account) -> None:
    async with desktop(server, greeter) as socket:
        await receive_until_ready(socket)
        for index in range(3):
            await greet(server, greeter, f"seen {index}")
        seen = await receive_events(socket, 3)
    last_seen = seen[-1]["seq"]
    for index in range(4):
        await greet(server, greeter, f"missed {index}")

    async with desktop(server, greeter, after=last_seen) as socket:
        replayed, ready = await receive_until_ready(socket)
        await greet(server, greeter, "live")
        live = await receive_events(socket, 1)

    assert [event["payload"]["text"] for event in replayed] == \
        [f"missed {index}" for index in range(4)]
    assert [event["seq"] for event in replayed] == list(range(last_seen + 1, last_seen + 5))
    assert ready == {"type": "ready", "last_seq": last_seen + 4, "complete": True}
    assert live[0]["seq"] == last_seen + 5
    assert live[0]["payload"]["text"] == "live"


async def test_resume_after_last_seq_replays_nothing(server: PortalServer,
                                                     greeter: Account) -> None:
    await greet(server, greeter, "already seen")
    async with desktop(server, greeter) as socket:
        _, first_ready = await receive_until_ready(socket)

    async with desktop(server, greeter, after=first_ready["last_seq"]) as socket:
        replayed, ready = await receive_until_ready(socket)

    assert replayed == []
    assert ready["last_seq"] == first_ready["last_seq"]


async def test_resume_after_pruned_events_is_incomplete(tuned_server: PortalServer) -> None:
    factory = Factory(tuned_server)
    tenant = await asyncio.to_thread(factory.tenant)
    await asyncio.to_thread(factory.install, tenant, "hello")
    user = await asyncio.to_thread(factory.user, tenant, Role.AGENT)
    account = await asyncio.to_thread(sign_in, tuned_server, user)
    for index in range(5):
        await greet(tuned_server, account, f"greeting {index}")
    db = Database(tuned_server.database_url)
    try:
        async with db.transaction() as session:
            await do_prune_events(session, keep=2)
    finally:
        await db.dispose()

    async with desktop(tuned_server, account, after=1) as socket:
        replayed, ready = await receive_until_ready(socket)

    assert [event["payload"]["text"] for event in replayed] == ["greeting 3", "greeting 4"]
    assert ready["complete"] is False
    assert ready["last_seq"] == replayed[-1]["seq"]


# Audience and tenant isolation


@dataclass(frozen=True)
class Workspaces:
    """Tenant one has an agent and an admin. Tenant two has an agent, and an admin who
    only sends."""

    agent_one: Account
    admin_one: Account
    agent_two: Account
    admin_two: Account


@pytest.fixture
def workspaces(server: PortalServer, factory: Factory) -> Workspaces:
    accounts = []
    for _ in range(2):
        tenant = factory.tenant()
        factory.install(tenant, "hello")
        accounts.append(sign_in(server, factory.user(tenant, Role.AGENT)))
        accounts.append(sign_in(server, factory.user(tenant, Role.ADMIN)))
    return Workspaces(accounts[0], accounts[1], accounts[2], accounts[3])


async def test_audience_and_tenant_isolation(server: PortalServer,
                                             workspaces: Workspaces) -> None:
    agent_one, admin_one = workspaces.agent_one, workspaces.admin_one
    agent_two, admin_two = workspaces.agent_two, workspaces.admin_two
    watched = {"agent one": agent_one, "admin one": admin_one, "agent two": agent_two}
    expected = {
        "agent one": {"greeting by agent one", "tenant one to agents"},
        "admin one": {"greeting by admin one", "tenant one to admins"},
        "agent two": {"greeting by agent two", "tenant two to agents"},
    }

    async with desktop(server, agent_one) as socket_one, \
            desktop(server, admin_one) as socket_admin, \
            desktop(server, agent_two) as socket_two:
        sockets = {"agent one": socket_one, "admin one": socket_admin, "agent two": socket_two}
        for socket in sockets.values():
            await receive_until_ready(socket)
        await greet(server, agent_one, "greeting by agent one")
        await greet(server, admin_one, "greeting by admin one")
        await greet(server, agent_two, "greeting by agent two")
        async with api(server, admin_one) as client:
            await announce(client, Role.AGENT, "tenant one to agents")
            await announce(client, Role.ADMIN, "tenant one to admins")
            await announce(client, Role.CUSTOMER, "tenant one to customers")
        async with api(server, admin_two) as client:
            await announce(client, Role.AGENT, "tenant two to agents")
            await announce(client, Role.ADMIN, "tenant two to admins")
        # Each desktop's own last greeting comes after everything else in its tenant, so
        # once it arrives nothing sent before can still be on its way.
        for account in watched.values():
            await greet(server, account, "last")
        received: dict[str, list[Message]] = {}
        for name, socket in sockets.items():
            received[name] = []
            while not received[name] or received[name][-1]["payload"]["text"] != "last":
                received[name] += await receive_events(socket, 1)

    for name, account in watched.items():
        texts = {event["payload"]["text"] for event in received[name][:-1]}
        assert texts == expected[name], name
        tenants = {event["tenant"] for event in received[name]}
        assert tenants == {account.user.tenant.id}, name


# Bounded send queue


def stalled_socket(server: PortalServer) -> socket.socket:
    """Return a TCP connection to the server with a tiny receive buffer, so that a client
    that stops reading soon stops the server's writes."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
    return sock


async def test_slow_desktop_closed_others_served(tuned_server: PortalServer) -> None:
    factory = Factory(tuned_server)
    tenant = await asyncio.to_thread(factory.tenant)
    await asyncio.to_thread(factory.install, tenant, "hello")
    admin_user = await asyncio.to_thread(factory.user, tenant, Role.ADMIN)
    slow_user = await asyncio.to_thread(factory.user, tenant, Role.AGENT)
    fast_user = await asyncio.to_thread(factory.user, tenant, Role.AGENT)
    admin, slow, fast = [await asyncio.to_thread(sign_in, tuned_server, user)
                         for user in (admin_user, slow_user, fast_user)]
    closing_line = f"Closing WebSocket of user {slow_user.id}: "

    # Uncompressed and barely buffered, the stalled desktop stops the server's writes
    # after a few megabytes of events. Random text keeps them that large even where
    # compression is on.
    async with desktop(tuned_server, slow, sock=stalled_socket(tuned_server),
                       compression=None, max_queue=1, max_size=None) as slow_socket, \
            desktop(tuned_server, fast, max_size=None) as fast_socket:
        await receive_until_ready(fast_socket)
        published: list[int] = []
        deadline = time.monotonic() + 60
        async with api(tuned_server, admin) as client:
            while closing_line not in tuned_server.log():
                assert time.monotonic() < deadline, "the slow desktop was never closed"
                assert len(published) < 1000, "the slow desktop was never closed"
                published.append(await announce(client, Role.AGENT,
                                                 secrets.token_urlsafe(22_000)))
        fast_events = await receive_events(fast_socket, len(published))
        fast_received_at = datetime.now(UTC)
        pong = await ping(fast_socket)
        slow_code, slow_messages = await close_code(slow_socket)

    slow_events = [message["event"] for message in slow_messages
                   if message["type"] == "event" and message["event"]["topic"] ==
                   "hello.announcement"]
    last_seen = slow_events[-1]["seq"] if slow_events else published[0] - 1
    async with desktop(tuned_server, slow, after=last_seen, max_size=None) as resumed:
        replayed, ready = await receive_until_ready(resumed)

    assert [event["seq"] for event in fast_events] == published
    latest = max(datetime.fromisoformat(event["time"]) for event in fast_events)
    assert fast_received_at - latest < timedelta(seconds=5)
    assert pong == {"type": "pong"}
    assert slow_code == 1013
    assert len(slow_events) < len(published)
    assert [event["seq"] for event in slow_events] == published[:len(slow_events)]
    assert [event["seq"] for event in replayed] == published[len(slow_events):]
    assert ready["last_seq"] == published[-1]
    assert ready["complete"] is True


# Client frames


async def test_ping_gets_pong(server: PortalServer, agent: Account) -> None:
    async with desktop(server, agent) as socket:
        await receive_until_ready(socket)
        pong = await ping(socket)

    assert pong == {"type": "pong"}


async def test_frame_over_64_kib_closes_1009(server: PortalServer, agent: Account) -> None:
    async with desktop(server, agent) as socket:
        await receive_until_ready(socket)
        await socket.send("x" * MAX_FRAME)
        at_limit = await receive(socket)
        await socket.send("x" * (MAX_FRAME + 1))
        code, _ = await close_code(socket)

    assert at_limit["type"] == "error"
    assert code == 1009


@pytest.mark.parametrize("frame", [
    "{not json", b"\x00\x01", '{"type": "subscribe"}', "[]", "{}", '{"type": 5}', '"ping"'])
async def test_bad_message_gets_error_and_socket_stays_open(
        server: PortalServer, agent: Account, frame: str | bytes) -> None:
    async with desktop(server, agent) as socket:
        await receive_until_ready(socket)
        await socket.send(frame)
        error = await receive(socket)
        pong = await ping(socket)

    assert set(error) == {"type", "error"}
    assert error["type"] == "error"
    assert error["error"]["code"] == "invalid_message"
    assert isinstance(error["error"]["message"], str)
    assert error["error"]["message"]
    assert pong == {"type": "pong"}


async def test_ten_bad_messages_close_1008(server: PortalServer, agent: Account) -> None:
    async with desktop(server, agent) as socket:
        await receive_until_ready(socket)
        for _ in range(9):
            await socket.send("{not json")
        errors = [await receive(socket) for _ in range(9)]
        pong = await ping(socket)
        await socket.send("{not json")
        code, last_messages = await close_code(socket)

    assert [error["type"] for error in errors] == ["error"] * 9
    assert pong == {"type": "pong"}
    assert [message["type"] for message in last_messages] == ["error"]
    assert code == 1008


# Heartbeat


async def test_heartbeat_arrives_at_configured_interval(tuned_server: PortalServer) -> None:
    factory = Factory(tuned_server)
    tenant = await asyncio.to_thread(factory.tenant)
    user = await asyncio.to_thread(factory.user, tenant, Role.AGENT)
    account = await asyncio.to_thread(sign_in, tuned_server, user)

    async with desktop(tuned_server, account) as socket:
        await receive_until_ready(socket)
        started = time.monotonic()
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
            if message["type"] == "heartbeat":
                break
        waited = time.monotonic() - started

    assert set(message) == {"type", "time"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", message["time"])
    assert abs(datetime.now(UTC) - datetime.fromisoformat(message["time"])) < \
        timedelta(seconds=30)
    assert waited < 5

