"""Settings: flags, MIPORTAL_* environment variables and the generated secret key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from portal.settings import (
    REPOSITORY_ROOT,
    SECRET_KEY_FILE,
    load_or_create_secret_key,
    load_settings,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MIPORTAL_"):
            monkeypatch.delenv(name)


def test_settings_defaults(tmp_path: Path) -> None:
    settings = load_settings(["--data-dir", str(tmp_path / "data")])

    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.data_dir == (tmp_path / "data").resolve()
    assert settings.data_dir.is_dir()
    assert settings.database_url == ""
    assert settings.effective_database_url == (
        f"sqlite+aiosqlite:///{settings.data_dir / 'miportal.sqlite3'}")
    assert settings.apps_dir == REPOSITORY_ROOT / "apps"
    assert settings.allowed_origins == ()
    assert settings.secure_cookies is False
    assert settings.demo_password is None
    assert settings.log_level == "INFO"


def test_settings_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {
        "MIPORTAL_HOST": "0.0.0.0",
        "MIPORTAL_PORT": "9123",
        "MIPORTAL_DATA_DIR": str(tmp_path / "env-data"),
        "MIPORTAL_DATABASE_URL": "postgresql+asyncpg://portal@db.internal/portal",
        "MIPORTAL_SECRET_KEY": "k" * 40,
        "MIPORTAL_APPS_DIR": str(tmp_path / "env-apps"),
        "MIPORTAL_ALLOWED_ORIGINS": "https://a.example, https://b.example,",
        "MIPORTAL_SECURE_COOKIES": "true",
        "MIPORTAL_LOG_LEVEL": "debug",
        "MIPORTAL_DEMO_PASSWORD": "demo password",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    settings = load_settings([])

    assert settings.host == "0.0.0.0"
    assert settings.port == 9123
    assert settings.data_dir == (tmp_path / "env-data").resolve()
    assert settings.effective_database_url == environment["MIPORTAL_DATABASE_URL"]
    assert settings.secret_key == "k" * 40
    assert settings.apps_dir == (tmp_path / "env-apps").resolve()
    assert settings.allowed_origins == ("https://a.example", "https://b.example")
    assert settings.secure_cookies is True
    assert settings.log_level == "DEBUG"
    assert settings.demo_password == "demo password"
    assert not (settings.data_dir / SECRET_KEY_FILE).exists()


def test_settings_flags_override_environment(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIPORTAL_PORT", "9123")
    monkeypatch.setenv("MIPORTAL_HOST", "0.0.0.0")
    monkeypatch.setenv("MIPORTAL_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("MIPORTAL_ALLOWED_ORIGINS", "https://a.example")

    settings = load_settings(["--port", "9200", "--host", "::1", "--data-dir",
                              str(tmp_path / "flag-data"), "--allowed-origin",
                              "https://c.example", "--secure-cookies"])

    assert settings.port == 9200
    assert settings.host == "::1"
    assert settings.data_dir == (tmp_path / "flag-data").resolve()
    assert not (tmp_path / "env-data").exists()
    assert settings.allowed_origins == ("https://a.example", "https://c.example")
    assert settings.secure_cookies is True


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False),
                                                 ("", False), ("false", False)])
def test_settings_secure_cookies_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        value: str, expected: bool) -> None:
    monkeypatch.setenv("MIPORTAL_SECURE_COOKIES", value)

    settings = load_settings(["--data-dir", str(tmp_path)])

    assert settings.secure_cookies is expected


def test_settings_bad_port_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MIPORTAL_PORT", "eighty")

    with pytest.raises(SystemExit) as caught:
        load_settings(["--data-dir", str(tmp_path)])

    assert caught.value.code == 2
    assert "argument --port: invalid int value: 'eighty'" in capsys.readouterr().err


def test_settings_job_intervals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIPORTAL_JOB_INTERVALS", "ticketcloud.sla_scan=5, portal.x=0.5")

    from_environment = load_settings(["--data-dir", str(tmp_path)])
    from_flags = load_settings(["--data-dir", str(tmp_path),
                                "--job-interval", "ticketcloud.sla_scan=1"])

    assert from_environment.job_intervals == {"ticketcloud.sla_scan": 5.0, "portal.x": 0.5}
    assert from_flags.job_intervals == {"ticketcloud.sla_scan": 1.0, "portal.x": 0.5}


@pytest.mark.parametrize("value", ["ticketcloud.sla_scan", "=5", "x=0", "x=-1", "x=soon",
                                   "x=inf"])
def test_settings_bad_job_interval(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   value: str) -> None:
    with pytest.raises(SystemExit) as caught:
        load_settings(["--data-dir", str(tmp_path), "--job-interval", value])

    assert caught.value.code == 2
    assert f"--job-interval: invalid job interval {value!r}" in capsys.readouterr().err


def test_secret_key_generated_once(tmp_path: Path) -> None:
    first = load_settings(["--data-dir", str(tmp_path)]).secret_key
    path = tmp_path / SECRET_KEY_FILE
    mode = stat.S_IMODE(path.stat().st_mode)

    second = load_settings(["--data-dir", str(tmp_path)]).secret_key

    assert len(first) >= 32
    assert mode == 0o600
    assert second == first
    assert path.read_text().strip() == first


def test_secret_key_differs_per_data_dir(tmp_path: Path) -> None:
    first = load_or_create_secret_key(tmp_path)
    (tmp_path / "other").mkdir()

    assert load_or_create_secret_key(tmp_path / "other") != first


def test_secret_key_too_short(tmp_path: Path) -> None:
    (tmp_path / SECRET_KEY_FILE).write_text("short\n")

    with pytest.raises(SystemExit) as caught:
        load_or_create_secret_key(tmp_path)

    assert "shorter than 32 characters" in str(caught.value.code)
    assert "delete the file" in str(caught.value.code)
    assert (tmp_path / SECRET_KEY_FILE).read_text() == "short\n"


def test_secret_key_flag_creates_no_file(tmp_path: Path) -> None:
    settings = load_settings(["--data-dir", str(tmp_path), "--secret-key", "s" * 40])

    assert settings.secret_key == "s" * 40
    assert not (tmp_path / SECRET_KEY_FILE).exists()
