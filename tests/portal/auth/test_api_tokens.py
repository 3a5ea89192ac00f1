"""Recording an API token's last use when the database write fails."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from portal.auth.api_tokens import record_token_use
from portal.db import Database


async def test_record_token_use_failure_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A database without the portal's tables makes the UPDATE fail for real.
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    caplog.set_level(logging.WARNING, logger="portal.auth.api_tokens")
    try:
        await record_token_use(db, 4242)
    finally:
        await db.dispose()

    [record] = caplog.records
    assert record.getMessage() == "Failed to record the last use of API token 4242"
    assert record.exc_info is not None
