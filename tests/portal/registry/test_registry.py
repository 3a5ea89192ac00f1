"""The app registry: broken apps are listed with their error and never stop the portal."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from portal.db import Database
from portal.errors import NotFound
from portal.events.bus import create_bus
from portal.registry.discovery import builtin_sources, folder_sources
from portal.registry.registry import AppRegistry, BrokenApp
from tests.support import Factory, PortalServer, signed_in, start_server, stop_server

FIXTURE_APPS = Path(__file__).resolve().parents[2] / "fixtures" / "apps"
BROKEN_FOLDERS = {
    "fixture_bad_branch", "fixture_exit_on_import", "fixture_import_error",
    "fixture_invalid_manifest", "fixture_no_static", "fixture_not_backend", "fixture_twin_b",
}


@pytest.fixture
async def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AppRegistry]:
    # Loading puts the apps folder on sys.path; keep that to this test.
    monkeypatch.setattr(sys, "path", list(sys.path))
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'miportal.sqlite3'}")
    loaded = AppRegistry(db=db, bus=create_bus("memory://"), data_dir=tmp_path)
    loaded.load([*builtin_sources(), *folder_sources(FIXTURE_APPS)])
    yield loaded
    await db.dispose()


def broken_from(registry: AppRegistry, folder: str) -> BrokenApp:
    origin = f"apps/{folder}"
    matches = [item for item in registry.broken if item.origin == origin]
    assert len(matches) == 1, f"{origin} is not listed once in {registry.broken}"
    return matches[0]


async def test_load_keeps_good_apps(registry: AppRegistry) -> None:
    assert set(registry.apps) == {"system", "fixture_good", "fixture_twin"}
    assert registry.builtin_ids() == {"system"}
    assert registry.apps["fixture_good"].static_dir == FIXTURE_APPS / "fixture_good" / "static"


async def test_load_lists_every_broken_app(registry: AppRegistry) -> None:
    assert {item.origin for item in registry.broken} == {
        f"apps/{folder}" for folder in BROKEN_FOLDERS}


async def test_load_import_error(registry: AppRegistry) -> None:
    broken = broken_from(registry, "fixture_import_error")

    assert broken.app_id == "fixture_import_error"
    assert "importing backend module 'fixture_import_error.backend' failed" in broken.error
    assert "RuntimeError: fixture_import_error fails on purpose" in broken.error


async def test_load_sys_exit_on_import(registry: AppRegistry) -> None:
    broken = broken_from(registry, "fixture_exit_on_import")

    assert broken.app_id == "fixture_exit_on_import"
    assert "SystemExit: fixture_exit_on_import exits on purpose" in broken.error


async def test_load_backend_not_app_backend(registry: AppRegistry) -> None:
    broken = broken_from(registry, "fixture_not_backend")

    assert "manifest field 'backend'" in broken.error
    assert "is function, not a portal.sdk.AppBackend" in broken.error


async def test_load_static_folder_missing(registry: AppRegistry) -> None:
    broken = broken_from(registry, "fixture_no_static")

    assert "manifest field 'static'" in broken.error
    assert "folder 'static' does not exist" in broken.error


async def test_load_migrations_wrong_branch_label(registry: AppRegistry) -> None:
    broken = broken_from(registry, "fixture_bad_branch")

    assert "manifest field 'migrations'" in broken.error
    assert "branch label 'fixture_bad_branch'" in broken.error


async def test_load_invalid_manifest(registry: AppRegistry) -> None:
    broken = broken_from(registry, "fixture_invalid_manifest")

    assert broken.app_id is None
    assert "invalid manifest" in broken.error
    assert "colour: Additional properties are not allowed" in broken.error


async def test_load_duplicate_app_id(registry: AppRegistry) -> None:
    broken = broken_from(registry, "fixture_twin_b")

    assert broken.app_id == "fixture_twin"
    assert "duplicate app id 'fixture_twin'" in broken.error
    assert "apps/fixture_twin_a" in broken.error
    assert registry.apps["fixture_twin"].source.origin == "apps/fixture_twin_a"


async def test_load_app_claiming_builtin_id(tmp_path: Path, registry: AppRegistry) -> None:
    impostor = tmp_path / "apps" / "impostor"
    impostor.mkdir(parents=True)
    manifest = (FIXTURE_APPS / "fixture_twin_a" / "manifest.json").read_text()
    (impostor / "manifest.json").write_text(manifest.replace('"fixture_twin"', '"system"'))

    registry.load(folder_sources(tmp_path / "apps"))

    assert registry.apps["system"].builtin
    assert "duplicate app id 'system'" in broken_from(registry, "impostor").error


BAD_BACKENDS = [
    ("routes=['/']", "routes[0] of type str"),
    ("jobs=['tick']", "jobs[0] of type str"),
    ("jobs=[sdk.Job('tick', 0, tick)]", "jobs[0] ('tick') with interval_seconds 0"),
    ("jobs=[sdk.Job('tick', 5, 'tick')]", "jobs[0] ('tick') whose run is not callable"),
    ("on_install='install'", "on_install of type str"),
]


@pytest.mark.parametrize(("arguments", "problem"), BAD_BACKENDS,
                         ids=[arguments for arguments, _ in BAD_BACKENDS])
async def test_load_backend_bad_field(tmp_path: Path, registry: AppRegistry, arguments: str,
                                      problem: str) -> None:
    package = f"bad_backend_{BAD_BACKENDS.index((arguments, problem))}"
    folder = tmp_path / "apps" / package
    folder.mkdir(parents=True)
    manifest = (FIXTURE_APPS / "fixture_twin_a" / "manifest.json").read_text()
    (folder / "manifest.json").write_text(
        manifest.replace('"fixture_twin"', f'"{package}"').replace("fixture_twin_a", package))
    (folder / "__init__.py").write_text("")
    (folder / "backend.py").write_text(
        "from portal import sdk\n\n\nasync def tick(context):\n    pass\n\n\n"
        f"backend = sdk.AppBackend({arguments})\n")

    registry.load(folder_sources(tmp_path / "apps"))

    assert package not in registry.apps
    broken = broken_from(registry, package)
    assert "manifest field 'backend'" in broken.error
    assert problem in broken.error


async def test_get_unknown_app(registry: AppRegistry) -> None:
    with pytest.raises(NotFound) as caught:
        registry.get("fixture_import_error")

    assert "'fixture_import_error' not found" in caught.value.message


@pytest.fixture(scope="module")
def fixture_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    """A portal whose apps folder contains the fixture apps, most of them broken."""
    portal_server = start_server(tmp_path_factory.mktemp("fixture-apps"),
                                 env={"MIPORTAL_APPS_DIR": str(FIXTURE_APPS)})
    yield portal_server
    stop_server(portal_server)


def test_server_starts_with_broken_apps(fixture_server: PortalServer) -> None:
    health = httpx.get(fixture_server.base_url + "/healthz").json()

    assert health["status"] == "ok"
    assert {"system", "hello", "fixture_good", "fixture_twin"} <= set(health["apps"])
    assert set(health["broken_apps"]) == {f"apps/{folder}" for folder in BROKEN_FOLDERS}


def test_server_serves_good_app(fixture_server: PortalServer) -> None:
    factory = Factory(fixture_server)
    tenant = factory.tenant()
    admin = factory.user(tenant, "admin")

    with signed_in(fixture_server, admin) as client:
        installed = client.post("/api/admin/apps/fixture_good/install")
        whoami = client.get("/apps/fixture_good/")

    assert installed.status_code == 200, installed.text
    assert whoami.status_code == 200, whoami.text
    assert whoami.json() == {"tenant_id": tenant.id, "user_id": admin.id}


def test_admin_api_lists_broken_apps(fixture_server: PortalServer) -> None:
    factory = Factory(fixture_server)
    admin = factory.user(factory.tenant(), "admin")

    with signed_in(fixture_server, admin) as client:
        response = client.get("/api/admin/apps")

    assert response.status_code == 200, response.text
    broken = {item["origin"]: item for item in response.json()["broken"]}
    assert set(broken) == {f"apps/{folder}" for folder in BROKEN_FOLDERS}
    assert "fails on purpose" in broken["apps/fixture_import_error"]["error"]
    assert broken["apps/fixture_import_error"]["id"] == "fixture_import_error"
    assert "manifest field 'static'" in broken["apps/fixture_no_static"]["error"]


def test_admin_api_install_broken_app(fixture_server: PortalServer) -> None:
    factory = Factory(fixture_server)
    admin = factory.user(factory.tenant(), "admin")

    with signed_in(fixture_server, admin) as client:
        response = client.post("/api/admin/apps/fixture_import_error/install")
        listed = client.get("/api/admin/apps").json()["apps"]

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "app_id"
    assert "'fixture_import_error' is broken and cannot be installed" in error["message"]
    assert "fails on purpose" in error["message"]
    assert "fixture_import_error" not in {app["id"] for app in listed}
