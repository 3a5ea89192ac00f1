"""Schema migrations with Alembic: one branch for the portal, one per app.

Every branch's revisions live in their own folder; this module builds one Alembic
configuration that lists all of them and upgrades chosen branches to their heads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, text

from portal.db import Database

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
PORTAL_BRANCH = "portal"
# The PostgreSQL advisory lock that serializes upgrades ("MIPORTAL" in ASCII, as a number).
MIGRATION_LOCK_KEY = 0x4D49504F5254414C


def build_config(app_migration_dirs: Sequence[Path] = ()) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    locations = [str(MIGRATIONS_DIR / "versions"), *(str(path) for path in app_migration_dirs)]
    # Alembic splits version_locations on this separator; a path never contains a newline.
    config.set_main_option("path_separator", "newline")
    config.set_main_option("version_locations", "\n".join(locations))
    return config


def branch_heads(config: Config) -> set[str]:
    """Return the branch labels that have revisions in the configured folders."""
    script = ScriptDirectory.from_config(config)
    labels: set[str] = set()
    for revision in script.walk_revisions():
        labels.update(revision.branch_labels)
    return labels


async def upgrade(db: Database, branches: Sequence[str], config: Config) -> None:
    """Upgrade each named branch to its head; each branch commits on its own."""
    for branch in branches:
        started = time.monotonic()
        # A write transaction from the start: a deferred one that first reads the
        # version table fails at once with "database is locked" when a job of this
        # process wrote in between, since SQLite cannot wait there without a deadlock.
        async with db.write_connection() as connection:
            if connection.dialect.name == "postgresql":
                # Processes that start together take turns, and each one after the first
                # finds the branch at its head. PostgreSQL runs DDL in the transaction,
                # so the lock covers the whole upgrade and ends with it.
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                         {"key": MIGRATION_LOCK_KEY})
            await connection.run_sync(_run, config, f"{branch}@head")
        logger.info("Migrated branch %s to head in %.2f s", branch,
                    time.monotonic() - started)


async def current_revisions(db: Database, config: Config) -> set[str]:
    async with db.engine.connect() as connection:
        return await connection.run_sync(_current, config)


def _run(connection: Connection, config: Config, target: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, target)


def _current(connection: Connection, config: Config) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(connection).get_current_heads())


def autogenerate(connection: Connection, config: Config, *, message: str, branch: str,
                 metadata: MetaData, head: str) -> None:
    """Write a new revision for `branch` from the difference between `metadata` and the
    database behind `connection`; a developer tool for writing a branch's revisions."""
    config.attributes["connection"] = connection
    config.attributes["target_metadata"] = metadata
    command.revision(config, message=message, autogenerate=True, head=head,
                     branch_label=None if head != "base" else branch)
