"""The launcher's list: installed apps and the window types a role may open."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from portal.models import Role
from portal.registry.registry import AppRegistry


def window_url(app_id: str, entry: str) -> str:
    return f"/apps/{app_id}/{quote(entry)}"


def launcher_entries(registry: AppRegistry, installed: set[str],
                     role: Role) -> list[dict[str, Any]]:
    entries = []
    for app_id in sorted(installed, key=lambda item: registry.apps[item].manifest.name.lower()):
        app = registry.apps[app_id]
        manifest = app.manifest
        windows = [
            {
                "type": window.type, "title": window.title,
                "url": window_url(app_id, window.entry),
                "default_size": {"width": window.default_size[0],
                                 "height": window.default_size[1]},
                "min_size": {"width": window.min_size[0], "height": window.min_size[1]},
                "singleton": window.singleton, "launcher": window.launcher,
            }
            for window in manifest.windows if role.value in window.roles
        ]
        if not windows:
            continue
        icon = None
        if manifest.icon and manifest.static:
            icon = f"/apps/{app_id}/static/{quote(manifest.icon)}"
        entries.append({"id": app_id, "name": manifest.name, "version": manifest.version,
                        "icon": icon, "windows": windows})
    return entries
