"""Alembic environment shared by the portal branch and every app's branch.

`portal.migrate` passes an open connection in `config.attributes["connection"]`, so the
same code runs on SQLite and PostgreSQL and inside the portal's event loop.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
target_metadata = context.config.attributes.get("target_metadata")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead.
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
