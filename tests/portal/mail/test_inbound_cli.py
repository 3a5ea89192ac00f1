"""The MTA pipe's exit status and message when storing fails because the database lacks
a table of this portal version, as after an upgrade before the portal migrated it."""

from __future__ import annotations

import argparse
import io
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from portal.mail import inbound_cli
from portal.mail.inbound import StorageFailed
from portal.mail.parse import MailLimits


class FailingGateway:
    """A gateway whose store fails as `InboundGateway` does when a table is missing."""

    db = None
    limits = MailLimits()

    def __init__(self, cause: Exception) -> None:
        self.cause = cause

    async def store(self, *_args: Any, **_kwargs: Any) -> Any:
        failure = StorageFailed("The message could not be stored; try again later.")
        raise failure from self.cause


def args() -> argparse.Namespace:
    return argparse.Namespace(recipient=["support@x.localhost"], sender="")


async def run_pipe(gateway: FailingGateway, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    async def no_routes(*_args: Any) -> dict[str, Any]:
        return {}

    monkeypatch.setattr(inbound_cli, "find_routes", no_routes)
    stderr = io.StringIO()
    status = await inbound_cli.receive(gateway, args(),  # type: ignore[arg-type]
                                       stdin=io.BytesIO(b"Subject: x\r\n\r\nx\r\n"),
                                       stdout=io.StringIO(), stderr=stderr)
    return status, stderr.getvalue().strip()


async def test_missing_table_says_migrate(monkeypatch: pytest.MonkeyPatch) -> None:
    cause = OperationalError("INSERT INTO portal_mail_raw ...", {},
                             Exception("no such table: portal_mail_raw"))

    status, message = await run_pipe(FailingGateway(cause), monkeypatch)

    assert status == inbound_cli.EX_TEMPFAIL
    assert message == ("error: the database is not set up for this portal version yet; "
                       "start the portal once or run `python -m portal migrate`, then "
                       "deliver again")


async def test_other_storage_failure_says_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    status, message = await run_pipe(FailingGateway(OSError("disk full")), monkeypatch)

    assert status == inbound_cli.EX_TEMPFAIL
    assert message == "error: The message could not be stored; try again later."
