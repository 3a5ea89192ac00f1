"""Load and validate an app's manifest.json against app_manifest.schema.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

import portal
from portal.errors import field_path
from portal.settings import REPOSITORY_ROOT

SCHEMA_PATH = REPOSITORY_ROOT / "app_manifest.schema.json"
MAX_MANIFEST_BYTES = 256 * 1024


class ManifestError(Exception):
    """An invalid manifest; the message names the file and the field."""

    def __init__(self, path: Path | str, field: str, problem: str) -> None:
        self.path = str(path)
        self.field = field
        self.problem = problem
        super().__init__(f"{path}: {field}: {problem}")


@dataclass(frozen=True)
class WindowType:
    type: str
    title: str
    entry: str
    default_size: tuple[int, int]
    min_size: tuple[int, int]
    singleton: bool
    launcher: bool
    roles: frozenset[str]


@dataclass(frozen=True)
class Manifest:
    id: str
    name: str
    version: str
    portal: str
    backend: str
    windows: tuple[WindowType, ...]
    description: str = ""
    static: str | None = None
    icon: str | None = None
    event_topics: frozenset[str] = frozenset()
    permissions: dict[str, frozenset[str]] = field(default_factory=dict)
    migrations: str | None = None
    data_tables: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def window(self, window_type: str) -> WindowType | None:
        return next((window for window in self.windows if window.type == window_type), None)


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def load_manifest(path: Path) -> Manifest:
    """Read, validate and return the manifest at `path`, or raise ManifestError."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ManifestError(path, "(file)", f"cannot be read: {error.strerror}") from error
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(path, "(file)", f"is {len(data)} bytes; the maximum is "
                                            f"{MAX_MANIFEST_BYTES}")
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(path, "(file)", f"is not valid JSON: {error}") from error
    return parse_manifest(raw, path=path)


def parse_manifest(raw: Any, *, path: Path | str = "manifest.json") -> Manifest:
    errors = sorted(_validator().iter_errors(raw), key=lambda error: list(error.absolute_path))
    if errors:
        first = errors[0]
        raise ManifestError(path, _error_field(first), first.message)
    assert isinstance(raw, dict)
    _check_semantics(raw, path)
    return _build(raw)


def _error_field(error: ValidationError) -> str:
    """Name the field at fault. For a missing or unexpected property that is the property
    itself, because jsonschema's path stops at the object that contains it."""
    path: list[str | int] = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [name for name in error.validator_value if name not in instance]
        path += missing[:1]
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        path += sorted(name for name in instance if name not in known)[:1]
    return field_path(path, whole="(manifest)")


def _check_semantics(raw: dict[str, Any], path: Path | str) -> None:
    app_id = raw["id"]
    try:
        supported = SpecifierSet(raw["portal"])
    except InvalidSpecifier as error:
        raise ManifestError(path, "portal", f"invalid version specifier: {error}") from error
    if Version(portal.__version__) not in supported:
        raise ManifestError(path, "portal", f"the app supports portal {raw['portal']!r}, but "
                                            f"this portal is {portal.__version__}")
    seen: set[str] = set()
    for index, window in enumerate(raw["windows"]):
        if window["type"] in seen:
            raise ManifestError(path, f"windows[{index}].type",
                                f"duplicate window type {window['type']!r}")
        seen.add(window["type"])
        default, minimum = window.get("default_size"), window.get("min_size")
        if default and minimum and (default["width"] < minimum["width"]
                                    or default["height"] < minimum["height"]):
            raise ManifestError(path, f"windows[{index}].default_size",
                                "is smaller than min_size")
    for key, id_field in (("events", "topic"), ("permissions", "id")):
        for index, item in enumerate(raw.get(key, [])):
            if not item[id_field].startswith(app_id + "."):
                raise ManifestError(path, f"{key}[{index}].{id_field}",
                                    f"{item[id_field]!r} must start with {app_id + '.'!r}")


def _build(raw: dict[str, Any]) -> Manifest:
    windows = []
    for window in raw["windows"]:
        minimum = window.get("min_size", {"width": 240, "height": 160})
        default = window.get("default_size", {"width": max(640, minimum["width"]),
                                               "height": max(420, minimum["height"])})
        windows.append(WindowType(
            type=window["type"], title=window["title"], entry=window["entry"],
            default_size=(default["width"], default["height"]),
            min_size=(minimum["width"], minimum["height"]),
            singleton=window.get("singleton", False), launcher=window.get("launcher", True),
            roles=frozenset(window.get("roles", ["admin", "agent"])),
        ))
    data = raw.get("data", {})
    return Manifest(
        id=raw["id"], name=raw["name"], version=raw["version"], portal=raw["portal"],
        backend=raw["backend"], windows=tuple(windows), description=raw.get("description", ""),
        static=raw.get("static"), icon=raw.get("icon"),
        event_topics=frozenset(event["topic"] for event in raw.get("events", [])),
        permissions={item["id"]: frozenset(item["roles"])
                     for item in raw.get("permissions", [])},
        migrations=raw.get("migrations"), data_tables=tuple(data.get("tables", [])), raw=raw,
    )
