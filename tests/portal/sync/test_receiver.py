"""The master's push endpoint on a running server: every bad input gets an XML error
document with its HTTP status, and nothing is stored."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

import httpx
import pytest

from portal.db import Database
from portal.sync.envelope import parse_ack, parse_error
from portal.sync.parser import MAX_DOCUMENT_BYTES
from portal.sync.peers import do_register_child
from portal.sync.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, sign
from tests.portal.sync.documents import batch_bytes
from tests.support import Factory, PortalServer, TenantInfo

PUSH = "/sync/v1/push"


@dataclass(frozen=True)
class Child:
    installation_id: str
    secret: str
    tenant_id: int


@pytest.fixture(scope="module")
def tenant(factory: Factory) -> TenantInfo:
    """The shared server's workspace with TicketCloud that receives every test child."""
    workspace = factory.tenant()
    factory.install(workspace, "ticketcloud")
    return workspace


@pytest.fixture
def child(server: PortalServer, tenant: TenantInfo) -> Child:
    """A new child registered at the shared server, straight in its database."""
    installation_id = secrets.token_hex(16)

    async def create() -> str:
        db = Database(server.database_url)
        try:
            async with db.transaction() as session:
                _peer, secret = await do_register_child(
                    session, child_id=installation_id, name="Test child", tenant_id=tenant.id)
            return secret
        finally:
            await db.dispose()

    return Child(installation_id, asyncio.run(create()), tenant.id)


def post(server: PortalServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.base_url + PUSH, content=body, timeout=30,
                      headers={"Content-Type": "application/xml", **headers})


def push(server: PortalServer, child: Child, body: bytes) -> httpx.Response:
    return post(server, body, sign(child.secret, child.installation_id, body))


def stored(factory: Factory, child: Child) -> list[tuple[int, int]]:
    rows = factory.execute(
        "SELECT remote_id, version FROM ticketcloud_synced_ticket WHERE installation_id = "
        ":installation ORDER BY remote_id", installation=child.installation_id)
    return [(int(remote), int(version)) for remote, version in rows]


def error_code(response: httpx.Response) -> str:
    return parse_error(response.content).code


def test_receiver_applies_valid_batch(server: PortalServer, factory: Factory,
                                      child: Child) -> None:
    response = push(server, child, batch_bytes(child.installation_id, [(7, 1), (7, 2), (8, 1)]))

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert parse_ack(response.content).results == {1: "applied", 2: "applied", 3: "applied"}
    assert stored(factory, child) == [(7, 2), (8, 1)]


def test_receiver_acknowledges_repeat_as_duplicate(server: PortalServer, factory: Factory,
                                                   child: Child) -> None:
    body = batch_bytes(child.installation_id, [(5, 1), (5, 2)])
    assert push(server, child, body).status_code == 200
    before = factory.execute("SELECT received_at FROM ticketcloud_synced_ticket WHERE "
                             "installation_id = :id", id=child.installation_id)

    repeat = push(server, child, body)

    assert repeat.status_code == 200
    assert parse_ack(repeat.content).results == {1: "duplicate", 2: "duplicate"}
    assert stored(factory, child) == [(5, 2)]
    assert factory.execute("SELECT received_at FROM ticketcloud_synced_ticket WHERE "
                           "installation_id = :id", id=child.installation_id) == before


def test_receiver_rejects_stale_version(server: PortalServer, factory: Factory,
                                        child: Child) -> None:
    assert push(server, child, batch_bytes(child.installation_id, [(4, 3)])).status_code == 200

    response = push(server, child, batch_bytes(child.installation_id, [(9, 1), (4, 2)]))

    assert response.status_code == 409
    assert error_code(response) == "stale_version"
    assert stored(factory, child) == [(4, 3)]


def billion_laughs() -> bytes:
    """Return the classic entity expansion: ten levels, each ten times the last."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, 10)]
    return (f'<?xml version="1.0"?><!DOCTYPE batch [{"".join(entities)}]>'
            '<batch xmlns="urn:miportal:sync:1">&lol9;</batch>').encode()


HOSTILE = {
    "xxe": (b'<?xml version="1.0"?><!DOCTYPE batch [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<batch xmlns="urn:miportal:sync:1">&x;</batch>', 400, "doctype_forbidden"),
    "billion_laughs": (billion_laughs(), 400, "doctype_forbidden"),
    "external_dtd": (b'<?xml version="1.0"?><!DOCTYPE batch SYSTEM "http://127.0.0.1:9/x.dtd">'
                     b'<batch xmlns="urn:miportal:sync:1"/>', 400, "doctype_forbidden"),
    "lowercase_doctype": (b'<?xml version="1.0"?><!doctype batch><batch/>', 400,
                          "doctype_forbidden"),
    "malformed": (b'<batch xmlns="urn:miportal:sync:1"><item>', 400, "malformed_xml"),
    "utf16": ('<batch xmlns="urn:miportal:sync:1"/>'.encode("utf-16"), 400, "malformed_xml"),
    "empty_batch": (b'<batch xmlns="urn:miportal:sync:1" id="aaaaaaaaaaaaaaaaaaaa" '
                    b'installation="' + b"0" * 32 + b'" created="2026-01-01T00:00:00Z"/>',
                    422, "schema_violation"),
    "wrong_root": (b'<ack xmlns="urn:miportal:sync:1"/>', 422, "schema_violation"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_receiver_rejects_hostile_xml(server: PortalServer, factory: Factory, child: Child,
                                      case: str) -> None:
    body, status, code = HOSTILE[case]

    response = push(server, child, body)

    assert response.status_code == status
    assert error_code(response) == code
    assert stored(factory, child) == []


def test_receiver_rejects_ticket_schema_violation(server: PortalServer, factory: Factory,
                                                  child: Child) -> None:
    body = batch_bytes(child.installation_id, [(3, 1), (4, 1)]).replace(
        b"<status>open</status>", b"<status>exploded</status>", 1)

    response = push(server, child, body)

    assert response.status_code == 422
    assert error_code(response) == "schema_violation"
    assert "exploded" in parse_error(response.content).message
    assert stored(factory, child) == []


def test_receiver_rejects_wrong_signature(server: PortalServer, factory: Factory,
                                          child: Child) -> None:
    body = batch_bytes(child.installation_id, [(1, 1)])
    headers = sign("x" * 43, child.installation_id, body)

    response = post(server, body, headers)

    assert response.status_code == 401
    assert error_code(response) == "bad_signature"
    assert stored(factory, child) == []


def test_receiver_keeps_health_of_child_on_unsigned_requests(
        server: PortalServer, factory: Factory, child: Child) -> None:
    body = batch_bytes(child.installation_id, [(1, 1)])
    forged = sign("x" * 43, child.installation_id, body)
    stale = sign(child.secret, child.installation_id, body, now=time.time() - 3600)
    valid = sign(child.secret, child.installation_id, body)

    statuses = [post(server, body, headers).status_code for headers in (forged, stale)]
    assert post(server, body, valid).status_code == 200
    replayed = post(server, body, valid)

    assert statuses == [401, 401]
    assert replayed.status_code == 409
    rows = factory.execute("SELECT error_count, last_error, last_error_at, batches_received "
                           "FROM portal_sync_peer WHERE installation_id = :id",
                           id=child.installation_id)
    assert rows == [(0, None, None, 1)]


def test_receiver_rejects_tampered_body(server: PortalServer, factory: Factory,
                                        child: Child) -> None:
    body = batch_bytes(child.installation_id, [(1, 1)])
    headers = sign(child.secret, child.installation_id, body)

    response = post(server, body.replace(b"Printer", b"Scanner"), headers)

    assert response.status_code == 401
    assert error_code(response) == "bad_signature"
    assert stored(factory, child) == []


def test_receiver_rejects_missing_signature(server: PortalServer, factory: Factory,
                                            child: Child) -> None:
    body = batch_bytes(child.installation_id, [(1, 1)])
    headers = sign(child.secret, child.installation_id, body)
    del headers[HEADER_SIGNATURE]

    response = post(server, body, headers)

    assert response.status_code == 401
    assert error_code(response) == "missing_signature"
    assert stored(factory, child) == []


def test_receiver_rejects_replayed_request(server: PortalServer, factory: Factory,
                                           child: Child) -> None:
    body = batch_bytes(child.installation_id, [(2, 1)])
    headers = sign(child.secret, child.installation_id, body)
    assert post(server, body, headers).status_code == 200

    replay = post(server, body, headers)

    assert replay.status_code == 409
    assert error_code(replay) == "replayed_request"
    assert stored(factory, child) == [(2, 1)]


def test_receiver_rejects_stale_timestamp(server: PortalServer, factory: Factory,
                                          child: Child) -> None:
    body = batch_bytes(child.installation_id, [(1, 1)])
    headers = sign(child.secret, child.installation_id, body, now=time.time() - 3600)

    response = post(server, body, headers)

    assert response.status_code == 401
    assert error_code(response) == "stale_timestamp"
    assert headers[HEADER_TIMESTAMP]
    assert stored(factory, child) == []


def test_receiver_rejects_unknown_installation(server: PortalServer, factory: Factory,
                                               child: Child) -> None:
    stranger = secrets.token_hex(16)
    body = batch_bytes(stranger, [(1, 1)])

    response = post(server, body, sign(child.secret, stranger, body))

    assert response.status_code == 403
    assert error_code(response) == "unknown_installation"
    assert factory.execute("SELECT COUNT(*) FROM ticketcloud_synced_ticket WHERE "
                           "installation_id = :id", id=stranger) == [(0,)]


def test_receiver_rejects_oversized_body(server: PortalServer, factory: Factory,
                                         child: Child) -> None:
    body = b"<" + b"x" * MAX_DOCUMENT_BYTES + b"/>"

    response = push(server, child, body)

    assert response.status_code == 413
    assert error_code(response) == "too_large"
    assert stored(factory, child) == []


def test_receiver_counts_errors_per_installation(server: PortalServer, factory: Factory,
                                                 child: Child) -> None:
    push(server, child, b"<broken")
    push(server, child, b"<broken")

    rows = factory.execute("SELECT error_count, last_error, last_contact_at FROM "
                           "portal_sync_peer WHERE installation_id = :id",
                           id=child.installation_id)
    count, last_error, contact = rows[0]
    assert count == 2
    assert last_error.startswith("malformed_xml")
    assert contact is not None
