"""The documentation keeps up with the code: every manifest field, SDK name, browser SDK
call, run.py flag and admin command is documented, and the README's test command is the
one CI runs."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from collections.abc import Iterator
from typing import Any

import pytest

from portal import cli, sdk
from portal.settings import REPOSITORY_ROOT, build_parser

APPS_DOC = REPOSITORY_ROOT / "docs" / "apps.md"
README = REPOSITORY_ROOT / "README.md"
CI_SCRIPT = REPOSITORY_ROOT / ".ci" / "run"
SCHEMA = REPOSITORY_ROOT / "app_manifest.schema.json"
SDK_JS = REPOSITORY_ROOT / "shell_static" / "sdk.js"

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")


def inline_code(markdown: str) -> set[str]:
    """Return the text of every inline code span outside fenced blocks."""
    prose = _FENCE.sub("", markdown)
    return set(_INLINE_CODE.findall(prose))


def all_code(markdown: str) -> str:
    """Return inline code spans and fenced blocks joined, one per line."""
    return "\n".join([*inline_code(markdown), *_FENCE.findall(markdown)])


def schema_property_names(node: Any) -> Iterator[str]:
    """Yield every name under a `properties` keyword of the schema, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                yield from value
            yield from schema_property_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from schema_property_names(item)


def names_field(spans: set[str], name: str) -> bool:
    """Return whether a code span is the field `name` or a dotted path ending in it."""
    return any(span == name or span.endswith("." + name) for span in spans)


def sdk_js_exports() -> list[str]:
    """Return the members of `portal` that sdk.js exports with `Object.freeze({...})`."""
    match = re.search(r"export const portal = Object\.freeze\(\{([^}]*)\}\)", SDK_JS.read_text())
    assert match, f"{SDK_JS} no longer exports `portal = Object.freeze({{...}})`"
    return [name.strip() for name in match.group(1).split(",") if name.strip()]


def readme_test_command() -> str:
    """Return the first line of the first code block under the README's "Test" heading."""
    text = README.read_text()
    section = re.search(r"^## Test[^\n]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no section whose heading starts with '## Test'"
    block = _FENCE.search(section.group(1))
    assert block, "the README's test section has no code block"
    return block.group(1).strip().splitlines()[0]


def ci_command() -> str:
    """Return the last command line of .ci/run, without a leading `exec`."""
    lines = [line.strip() for line in CI_SCRIPT.read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    return commands[-1].removeprefix("exec ").strip()


def script_of(command: str) -> list[str]:
    """Split a command and drop a leading `bash`, so `bash scripts/test` and
    `scripts/test` run the same script."""
    words = shlex.split(command)
    return words[1:] if words and words[0] == "bash" else words


def subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


@pytest.mark.parametrize("name", sorted(set(schema_property_names(json.loads(
    SCHEMA.read_text())))))
def test_apps_doc_manifest_field(name: str) -> None:
    assert names_field(inline_code(APPS_DOC.read_text()), name), (
        f"manifest field {name!r} of app_manifest.schema.json is not documented in "
        f"docs/apps.md; add it as `{name}` to the field tables")


def test_apps_doc_schema_defs_covered() -> None:
    """Check that the property walk reaches the fields of window, event, permission, size
    and data, so a schema restructuring cannot make the field tests vacuous."""
    schema = json.loads(SCHEMA.read_text())
    names = set(schema_property_names(schema))
    for definition in ("window", "event", "permission", "size"):
        assert set(schema["$defs"][definition]["properties"]) <= names
    assert set(schema["properties"]["data"]["properties"]) <= names


@pytest.mark.parametrize("name", sorted(sdk.__all__))
def test_apps_doc_sdk_name(name: str) -> None:
    pattern = re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")
    assert pattern.search(all_code(APPS_DOC.read_text())), (
        f"portal.sdk.{name} is not documented in docs/apps.md; mention it in code "
        f"formatting, such as `{name}`")


@pytest.mark.parametrize("name", ["ready", "setTitle", "setBadge", "notify", "openWindow",
                                  "subscribe"])
def test_sdk_js_exports_expected_call(name: str) -> None:
    assert name in sdk_js_exports()


def test_apps_doc_sdk_js_calls() -> None:
    code = all_code(APPS_DOC.read_text())
    missing = [name for name in sdk_js_exports() if f"portal.{name}" not in code]
    assert not missing, (f"docs/apps.md does not document the browser SDK calls {missing}; "
                         "add each as `portal.<name>` to the SDK table")


def test_readme_test_command_matches_ci() -> None:
    readme, ci = readme_test_command(), ci_command()
    assert script_of(readme) == script_of(ci), (
        f"README's test command {readme!r} differs from {ci!r} in .ci/run")


def test_readme_test_script_executable() -> None:
    script = REPOSITORY_ROOT / script_of(readme_test_command())[0]
    assert script.is_file()
    assert script.stat().st_mode & 0o111, f"{script} is not executable; chmod +x it"


@pytest.mark.parametrize("option", sorted(
    option for action in build_parser()._actions for option in action.option_strings
    if option.startswith("--") and option != "--help"))
def test_readme_run_flag(option: str) -> None:
    assert f"`{option}`" in README.read_text(), (
        f"run.py flag {option} is not in the README's flags table")


@pytest.mark.parametrize("variable", sorted({
    variable for action in build_parser()._actions
    for variable in re.findall(r"MIPORTAL_[A-Z_]+", action.help or "")}))
def test_readme_environment_variable(variable: str) -> None:
    assert f"`{variable}`" in README.read_text(), (
        f"environment variable {variable} is not in the README's flags table")


@pytest.mark.parametrize("command", sorted(name for name, _ in subcommands(cli.build_parser())))
def test_readme_cli_command(command: str) -> None:
    assert f"python -m portal {command}" in README.read_text(), (
        f"admin command {command!r} has no example in the README")


def test_readme_links_exist() -> None:
    links = re.findall(r"\]\(([^)#]+)\)", README.read_text())
    assert links
    for link in links:
        assert (REPOSITORY_ROOT / link).is_file(), f"README links to missing {link}"
