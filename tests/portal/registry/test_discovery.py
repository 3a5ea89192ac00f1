"""Finding app packages in the apps folder and through the `miportal.apps` entry points."""

from __future__ import annotations

import importlib.util
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from portal.registry import discovery
from portal.registry.discovery import (
    BUILTIN_ROOT,
    ENTRY_POINT_GROUP,
    builtin_sources,
    entry_point_sources,
    folder_sources,
)


def test_entry_point_sources_find_hello() -> None:
    sources = {source.origin: source for source in entry_point_sources()}

    hello = sources["entry point 'hello' (miportal_hello)"]
    spec = importlib.util.find_spec("miportal_hello")
    assert spec is not None and spec.origin is not None
    assert hello.root == Path(spec.origin).resolve().parent
    assert hello.error is None
    assert hello.builtin is False


def test_entry_point_sources_unknown_group() -> None:
    assert entry_point_sources("miportal.no_such_group") == []


def test_builtin_sources_system_app() -> None:
    (system,) = builtin_sources()

    assert system.builtin is True
    assert system.root == BUILTIN_ROOT
    assert (BUILTIN_ROOT / "manifest.json").is_file()


def test_folder_sources_only_manifest_folders(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "with_manifest").mkdir()
    (tmp_path / "with_manifest" / "manifest.json").write_text("{}")
    (tmp_path / "without_manifest").mkdir()
    (tmp_path / "notes.txt").write_text("not an app")

    sources = folder_sources(tmp_path)

    assert [source.origin for source in sources] == [f"{tmp_path.name}/with_manifest"]
    assert sources[0].root == tmp_path / "with_manifest"
    assert str(tmp_path) in sys.path


def test_folder_sources_missing_folder(tmp_path: Path) -> None:
    assert folder_sources(tmp_path / "absent") == []
    assert folder_sources(None) == []


def test_entry_point_sources_parent_raises(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "raising_parent"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('parent fails on purpose')\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    broken = EntryPoint(name="broken", value="raising_parent.app", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(discovery, "entry_points", lambda group: [broken])

    (source,) = entry_point_sources()

    assert source.root is None
    assert source.origin == "entry point 'broken' (raising_parent.app)"
    assert source.error is not None
    assert "parent fails on purpose" in source.error


def test_entry_point_sources_not_a_package(monkeypatch: pytest.MonkeyPatch) -> None:
    module = EntryPoint(name="json", value="json.decoder", group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(discovery, "entry_points", lambda group: [module])

    (source,) = entry_point_sources()

    assert source.root is None
    assert source.error == "'json.decoder' is not an importable package"
