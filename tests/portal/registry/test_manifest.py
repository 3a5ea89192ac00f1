"""Manifest validation: every invalid manifest names the field at fault."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import portal
from portal.registry.manifest import (
    MAX_MANIFEST_BYTES,
    ManifestError,
    load_manifest,
    parse_manifest,
)


def valid_manifest() -> dict[str, Any]:
    return {
        "id": "sample",
        "name": "Sample",
        "version": "1.2.3",
        "portal": ">=0.1,<1",
        "backend": "sample.backend:backend",
        "static": "static",
        "icon": "icon.svg",
        "windows": [
            {"type": "main", "title": "Sample", "entry": "",
             "default_size": {"width": 500, "height": 400},
             "min_size": {"width": 300, "height": 200}},
            {"type": "detail", "title": "Detail", "entry": "detail", "singleton": True,
             "launcher": False, "roles": ["admin"]},
        ],
        "events": [{"topic": "sample.changed", "description": "Something changed."}],
        "permissions": [{"id": "sample.edit", "description": "Edit.", "roles": ["admin"]}],
        "migrations": "migrations",
        "data": {"tables": ["sample_item"]},
    }


def rejection(raw: Any) -> ManifestError:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(raw, path="sample/manifest.json")
    return caught.value


def test_parse_manifest_accepts_valid() -> None:
    manifest = parse_manifest(valid_manifest())

    assert manifest.id == "sample"
    assert manifest.version == "1.2.3"
    assert manifest.event_topics == frozenset({"sample.changed"})
    assert manifest.permissions == {"sample.edit": frozenset({"admin"})}
    assert manifest.data_tables == ("sample_item",)


def test_parse_manifest_fills_window_defaults() -> None:
    main, detail = parse_manifest(valid_manifest()).windows

    assert main.default_size == (500, 400)
    assert main.min_size == (300, 200)
    assert main.roles == frozenset({"admin", "agent"})
    assert main.launcher is True
    assert detail.singleton is True
    assert detail.launcher is False
    assert detail.default_size[0] >= detail.min_size[0]
    assert detail.default_size[1] >= detail.min_size[1]


def test_parse_manifest_missing_id() -> None:
    raw = valid_manifest()
    del raw["id"]

    error = rejection(raw)

    assert error.field == "id"
    assert "'id' is a required property" in str(error)
    assert "sample/manifest.json" in str(error)


def test_parse_manifest_missing_nested_field() -> None:
    raw = valid_manifest()
    del raw["windows"][0]["default_size"]["height"]

    assert rejection(raw).field == "windows[0].default_size.height"


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0.0", "01.0.0", ""])
def test_parse_manifest_bad_version(version: str) -> None:
    raw = valid_manifest()
    raw["version"] = version

    error = rejection(raw)

    assert error.field == "version"
    assert repr(version) in error.problem


def test_parse_manifest_unknown_property() -> None:
    raw = valid_manifest()
    raw["colour"] = "blue"

    error = rejection(raw)

    assert error.field == "colour"
    assert "'colour' was unexpected" in error.problem


def test_parse_manifest_unknown_window_property() -> None:
    raw = valid_manifest()
    raw["windows"][1]["resizable"] = False

    assert rejection(raw).field == "windows[1].resizable"


def test_parse_manifest_min_size_above_default() -> None:
    raw = valid_manifest()
    raw["windows"][0]["min_size"] = {"width": 600, "height": 200}

    error = rejection(raw)

    assert error.field == "windows[0].default_size"
    assert "min_size" in error.problem


def test_parse_manifest_min_height_above_default() -> None:
    raw = valid_manifest()
    raw["windows"][0]["min_size"] = {"width": 300, "height": 401}

    assert rejection(raw).field == "windows[0].default_size"


def test_parse_manifest_topic_without_app_prefix() -> None:
    raw = valid_manifest()
    raw["events"].append({"topic": "other.changed", "description": "Not ours."})

    error = rejection(raw)

    assert error.field == "events[1].topic"
    assert "'sample.'" in error.problem


def test_parse_manifest_topic_with_longer_app_prefix() -> None:
    raw = valid_manifest()
    raw["events"][0]["topic"] = "samples.changed"

    assert rejection(raw).field == "events[0].topic"


def test_parse_manifest_permission_without_app_prefix() -> None:
    raw = valid_manifest()
    raw["permissions"][0]["id"] = "tickets.edit"

    assert rejection(raw).field == "permissions[0].id"


def test_parse_manifest_duplicate_window_type() -> None:
    raw = valid_manifest()
    raw["windows"][1]["type"] = "main"

    error = rejection(raw)

    assert error.field == "windows[1].type"
    assert "duplicate window type 'main'" in error.problem


def test_parse_manifest_unsupported_portal_version() -> None:
    raw = valid_manifest()
    raw["portal"] = ">=99"

    error = rejection(raw)

    assert error.field == "portal"
    assert portal.__version__ in error.problem


def test_parse_manifest_invalid_portal_specifier() -> None:
    raw = valid_manifest()
    raw["portal"] = "newest please"

    error = rejection(raw)

    assert error.field == "portal"
    assert "invalid version specifier" in error.problem


@pytest.mark.parametrize("backend", ["sample.backend", "sample backend:x", ":backend"])
def test_parse_manifest_bad_backend_reference(backend: str) -> None:
    raw = valid_manifest()
    raw["backend"] = backend

    assert rejection(raw).field == "backend"


@pytest.mark.parametrize("field", ["static", "migrations", "icon"])
def test_parse_manifest_rejects_parent_folder(field: str) -> None:
    raw = valid_manifest()
    raw[field] = "../outside.svg"

    assert rejection(raw).field == field


def test_parse_manifest_bad_data_table_name() -> None:
    raw = valid_manifest()
    raw["data"]["tables"] = ['x"; DROP TABLE portal_user; --']

    assert rejection(raw).field == "data.tables[0]"


def test_parse_manifest_not_an_object() -> None:
    error = rejection(["sample"])

    assert error.field == "(manifest)"


def test_parse_manifest_leaves_input_unchanged() -> None:
    raw = valid_manifest()
    before = copy.deepcopy(raw)

    parse_manifest(raw)

    assert raw == before


def test_load_manifest_not_json(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"id": "sample",')

    with pytest.raises(ManifestError) as caught:
        load_manifest(path)

    assert caught.value.field == "(file)"
    assert "not valid JSON" in caught.value.problem
    assert str(path) in str(caught.value)


def test_load_manifest_too_large(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    raw = valid_manifest()
    raw["description"] = "x" * (MAX_MANIFEST_BYTES + 1)
    path.write_text(json.dumps(raw))

    with pytest.raises(ManifestError) as caught:
        load_manifest(path)

    assert caught.value.field == "(file)"
    assert str(MAX_MANIFEST_BYTES) in caught.value.problem


def test_load_manifest_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_manifest(tmp_path / "manifest.json")

    assert "cannot be read" in caught.value.problem
