"""The bare endpoint: authenticate the caller and insert one row in one transaction."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from portal import sdk

# The table is created by this app's migration, and Core is enough for one insert.
rows = sa.Table(
    "bench_bare_row", sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


async def add_row(request: Request) -> Response:
    """Insert one row for the caller's workspace and return its id."""
    caller = sdk.principal(request)
    context = sdk.app_context(request)
    async with context.transaction() as session:
        result = await session.execute(rows.insert().values(
            tenant_id=caller.tenant_id, created_at=sdk.utcnow().replace(tzinfo=None),
        ).returning(rows.c.id))
        row_id = int(result.scalar_one())
    return JSONResponse({"id": row_id}, status_code=201)


backend = sdk.AppBackend(routes=[Route("/api/rows", add_row, methods=["POST"])])
