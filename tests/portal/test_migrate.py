"""Migrations: `python -m portal migrate` builds the schema the models describe."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text
from sqlmodel import SQLModel

# Imported to register the portal's tables in SQLModel.metadata.
import portal.auth.links
import portal.mail.imap_models
import portal.mail.inbound_models
import portal.mail.outbox
import portal.models
import portal.rate_limits
import portal.sync.models  # noqa: F401
from portal.migrate import PORTAL_BRANCH, branch_heads, build_config
from tests.portal.test_cli import run_cli

HELLO_SPEC = importlib.util.find_spec("miportal_hello")
assert HELLO_SPEC is not None
assert HELLO_SPEC.origin is not None
HELLO_MIGRATIONS = Path(HELLO_SPEC.origin).resolve().parent / "migrations"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    sync_engine = create_engine(f"sqlite:///{tmp_path / 'miportal.sqlite3'}")
    yield sync_engine
    sync_engine.dispose()


def portal_tables_only(item: Any, name: str | None, type_: str, reflected: bool,
                       compare_to: Any) -> bool:
    """Compare the portal's own tables; apps' tables are not in SQLModel.metadata."""
    return type_ != "table" or bool(name and name.startswith("portal_"))


def schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_object": portal_tables_only})
        return list(compare_metadata(context, SQLModel.metadata))


def stored_versions(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    return {row[0] for row in rows}


def migrate(data_dir: Path) -> None:
    result = run_cli(data_dir, "migrate")
    assert result.returncode == 0, result.stderr
    assert "Migrations applied." in result.stdout


def test_migrate_schema_matches_models(tmp_path: Path, engine: Engine) -> None:
    migrate(tmp_path)
    first_versions = stored_versions(engine)
    migrate(tmp_path)

    assert schema_differences(engine) == []
    assert stored_versions(engine) == first_versions
    model_tables = {name for name in SQLModel.metadata.tables if name.startswith("portal_")}
    assert model_tables <= set(inspect(engine).get_table_names())


def test_migrate_each_branch_to_head(tmp_path: Path, engine: Engine) -> None:
    """alembic_version contains one row per migrated branch, with one exception: Alembic
    folds a branch's row into the row of a revision that `depends_on` it. hello_0001
    depends on portal_0001, so with hello installed the portal's head may be implied by
    hello's row instead of stored in its own."""
    script = ScriptDirectory.from_config(build_config([HELLO_MIGRATIONS]))
    portal_head = script.get_revision(f"{PORTAL_BRANCH}@head")
    hello_head = script.get_revision("hello@head")
    assert portal_head is not None and hello_head is not None

    migrate(tmp_path)
    portal_only = stored_versions(engine)
    assert run_cli(tmp_path, "create-tenant", "acme", "--name", "Acme").returncode == 0
    assert run_cli(tmp_path, "apps", "install", "hello", "--tenant", "acme").returncode == 0
    migrate(tmp_path)
    with_hello = stored_versions(engine)
    applied = {revision.revision for revision in script.iterate_revisions(
        tuple(with_hello), "base") if revision is not None}

    assert portal_only == {portal_head.revision}
    assert hello_head.revision in with_hello
    assert with_hello <= {portal_head.revision, hello_head.revision}
    assert portal_head.revision in applied
    assert "hello_greeting" in inspect(engine).get_table_names()
    assert schema_differences(engine) == []


def test_branch_heads_labels() -> None:
    assert branch_heads(build_config()) == {PORTAL_BRANCH}
    assert branch_heads(build_config([HELLO_MIGRATIONS])) == {PORTAL_BRANCH, "hello"}
