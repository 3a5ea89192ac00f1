"""Import boundaries: the portal never imports an app, and apps use only `portal.sdk`."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

from portal.settings import REPOSITORY_ROOT

APP_PACKAGES = ("apps", "ticketcloud", "miportal_hello")


def imported_modules(source: str) -> Iterator[tuple[int, str]]:
    """Yield (line, module) for each absolute import; `from a import b` yields `a.b`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def is_app_module(module: str) -> bool:
    return module.split(".")[0] in APP_PACKAGES


def is_portal_internal(module: str) -> bool:
    """Return whether `module` is part of the portal other than its public app API."""
    in_sdk = module == "portal.sdk" or module.startswith("portal.sdk.")
    return module.split(".")[0] == "portal" and not in_sdk


def violations(folder: Path, forbidden: Callable[[str], bool]) -> list[str]:
    """List `file:line module` for each import under `folder` that `forbidden` matches."""
    files = sorted(folder.rglob("*.py"))
    assert files, f"no Python files under {folder}"
    found = []
    for path in files:
        for line, module in imported_modules(path.read_text()):
            if forbidden(module):
                found.append(f"{path.relative_to(REPOSITORY_ROOT)}:{line} {module}")
    return found


def test_imported_modules_all_forms() -> None:
    source = ("import ticketcloud.models\nfrom apps import x\nfrom portal import sdk\n"
              "from portal.db import Database\nfrom . import local\n"
              "def f():\n    import miportal_hello\n")

    assert list(imported_modules(source)) == [
        (1, "ticketcloud.models"), (2, "apps.x"), (3, "portal.sdk"), (4, "portal.db.Database"),
        (7, "miportal_hello")]


def test_forbidden_module_predicates() -> None:
    assert is_app_module("ticketcloud.backend")
    assert is_app_module("miportal_hello")
    assert not is_app_module("portal.sdk")
    assert is_portal_internal("portal.db.Database")
    assert is_portal_internal("portal")
    assert is_portal_internal("portal.sdkx")
    assert not is_portal_internal("portal.sdk")
    assert not is_portal_internal("portal.sdk.AppBackend")


def test_portal_imports_no_app() -> None:
    assert violations(REPOSITORY_ROOT / "portal", is_app_module) == []


def test_ticketcloud_imports_only_sdk() -> None:
    assert violations(REPOSITORY_ROOT / "apps" / "ticketcloud", is_portal_internal) == []
