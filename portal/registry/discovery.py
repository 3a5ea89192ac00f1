"""Find app packages: folders of the in-tree apps directory and the `miportal.apps`
entry-point group of installed distributions."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "miportal.apps"
MANIFEST_NAME = "manifest.json"
BUILTIN_ROOT = Path(__file__).resolve().parent.parent / "system_app"


@dataclass(frozen=True)
class AppSource:
    """Where an app was found. `root` is its package folder, or None when the package
    named by an entry point cannot be located, with the reason in `error`."""

    origin: str
    root: Path | None
    error: str | None = None
    builtin: bool = False


def builtin_sources() -> list[AppSource]:
    return [AppSource(origin="built-in system app", root=BUILTIN_ROOT, builtin=True)]


def builtin_app_ids() -> frozenset[str]:
    """Return the ids of the built-in apps, read from their manifests without loading
    the apps, for a process that loads none (the MTA pipe)."""
    return frozenset(json.loads((source.root / MANIFEST_NAME).read_text("utf-8"))["id"]
                     for source in builtin_sources() if source.root is not None)


def folder_sources(apps_dir: Path | None) -> list[AppSource]:
    """List the app packages in `apps_dir` and put the folder on `sys.path`, so that a
    manifest's backend such as `ticketcloud.backend:backend` imports."""
    if apps_dir is None or not apps_dir.is_dir():
        return []
    if str(apps_dir) not in sys.path:
        sys.path.insert(0, str(apps_dir))
    return [
        AppSource(origin=f"{apps_dir.name}/{child.name}", root=child)
        for child in sorted(apps_dir.iterdir())
        if (child / MANIFEST_NAME).is_file()
    ]


def entry_point_sources(group: str = ENTRY_POINT_GROUP) -> list[AppSource]:
    """List apps of installed distributions. An entry point's value is the import name of
    the package that contains manifest.json, for example `miportal_hello`."""
    sources = []
    for entry_point in entry_points(group=group):
        origin = f"entry point {entry_point.name!r} ({entry_point.value})"
        try:
            spec = importlib.util.find_spec(entry_point.value)
        except (Exception, SystemExit) as error:
            # find_spec imports the parent packages of a dotted name, and their code may
            # raise anything; one broken distribution must not stop the portal.
            sources.append(AppSource(origin=origin, root=None,
                                     error=f"cannot be found: {error!r}"))
            continue
        if spec is None or not spec.submodule_search_locations:
            sources.append(AppSource(origin=origin, root=None,
                                     error=f"{entry_point.value!r} is not an importable package"))
            continue
        sources.append(AppSource(origin=origin, root=Path(next(iter(
            spec.submodule_search_locations)))))
    return sources
