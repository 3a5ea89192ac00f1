"""The web form's rate limits with two portal processes on one database and one data
folder (so one secret key): a sender gets the limit once in total, not once per process,
and a restart keeps the count."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.apps.ticketcloud.public.conftest import (
    Helpdesk,
    created_number,
    submit_form,
    ticket_rows,
    valid_fields,
)
from tests.support import Factory, PortalServer, start_server, stop_server


@pytest.fixture
def shared_folder(tmp_path: Path) -> Path:
    return tmp_path / "shared"


@pytest.fixture
def servers(shared_folder: Path) -> Iterator[list[PortalServer]]:
    """Two portal processes on one data folder: one SQLite file, or on PostgreSQL the
    database that the test support gives that folder."""
    running = [start_server(shared_folder)]
    try:
        # The second starts once the first has migrated and seeded the demo workspace.
        running.append(start_server(shared_folder, seed_demo=False))
        yield running
    finally:
        for server in running:
            stop_server(server)


@pytest.fixture
def shared_helpdesk(servers: list[PortalServer]) -> Helpdesk:
    factory = Factory(servers[0])
    tenant = factory.tenant()
    factory.install(tenant, "ticketcloud")
    return Helpdesk(tenant, factory.user(tenant, name="Agent Smith"))


def clients(servers: list[PortalServer]) -> list[httpx.Client]:
    return [httpx.Client(base_url=server.base_url, timeout=30) for server in servers]


def assert_limited(response: httpx.Response, message: str) -> None:
    assert response.status_code == 429, response.text
    assert message in response.text
    assert int(response.headers["retry-after"]) > 0


def test_limits_hold_across_processes_and_restart(
    servers: list[PortalServer], shared_helpdesk: Helpdesk, shared_folder: Path
) -> None:
    first, second = clients(servers)
    email_limited = "The address often@example.com sent 5 requests in the last 10 minutes."
    try:
        for index in range(5):
            visitor = first if index % 2 else second
            created_number(
                submit_form(
                    visitor,
                    shared_helpdesk,
                    valid_fields("often@example.com", subject=f"Question {index}"),
                )
            )

        assert_limited(
            submit_form(first, shared_helpdesk, valid_fields("often@example.com")), email_limited
        )
        assert_limited(
            submit_form(second, shared_helpdesk, valid_fields("often@example.com")), email_limited
        )

        stop_server(servers[0])
        servers[0] = start_server(shared_folder, seed_demo=False)
        first.close()
        first = httpx.Client(base_url=servers[0].base_url, timeout=30)
        assert_limited(
            submit_form(first, shared_helpdesk, valid_fields("often@example.com")), email_limited
        )

        # 8 submissions from this address so far, 3 of them limited by the sender's limit.
        for index in range(12):
            visitor = first if index % 2 else second
            created_number(
                submit_form(visitor, shared_helpdesk, valid_fields(f"s{index}@example.com"))
            )
        assert_limited(
            submit_form(second, shared_helpdesk, valid_fields("late@example.com")),
            "This network sent 20 requests in the last 10 minutes.",
        )
        assert_limited(
            submit_form(first, shared_helpdesk, valid_fields("late@example.com")),
            "This network sent 20 requests in the last 10 minutes.",
        )
    finally:
        first.close()
        second.close()

    assert len(ticket_rows(Factory(servers[1]), shared_helpdesk)) == 17


def test_limit_keys_store_no_address(
    servers: list[PortalServer], shared_helpdesk: Helpdesk
) -> None:
    first, second = clients(servers)
    with first, second:
        created_number(submit_form(first, shared_helpdesk, valid_fields("plain@example.com")))

    keys = [row[0] for row in Factory(servers[0]).execute("SELECT key FROM portal_rate_limit")]

    assert len(keys) == 2
    for key in keys:
        assert len(key) == 64
        assert "example" not in key
        assert "127.0.0.1" not in key
