from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.support import ON_POSTGRESQL, PASSWORD, start_server


def test_server_demo_logins_and_clean_stop(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        health = httpx.get(server.base_url + "/healthz", timeout=5)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert "ticketcloud" in health.json()["apps"]
    finally:
        server.process.send_signal(signal.SIGINT)
        exit_code = server.process.wait(timeout=20)

    log = server.log()
    assert exit_code == 0, log
    assert "Traceback" not in log
    assert "MiPortal stopped" in log
    for email in ("admin@demo.example", "billing.agent@demo.example",
                  "tech.agent@demo.example", "customer@demo.example"):
        assert email in log
    assert log.count(PASSWORD) == 4
    assert ON_POSTGRESQL or (server.data_dir / "miportal.sqlite3").is_file()
    assert (server.data_dir / "secret_key").stat().st_mode & 0o777 == 0o600


def test_server_second_start_keeps_data(tmp_path: Path) -> None:
    first = start_server(tmp_path / "data")
    first.process.send_signal(signal.SIGINT)
    assert first.process.wait(timeout=20) == 0
    key = (tmp_path / "data" / "secret_key").read_text()

    second = start_server(tmp_path / "data")
    second.process.send_signal(signal.SIGINT)
    assert second.process.wait(timeout=20) == 0

    assert (tmp_path / "data" / "secret_key").read_text() == key
    # Both starts append to one log; only the first prints the demo logins.
    assert second.log().count("Sign in at") == 1
