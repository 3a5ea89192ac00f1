"""Record recipients that ticket mail left out because the outbox cannot send to them.

- `ticketcloud_mail_skip.reason`: `bounced` (every existing row, through the server
  default) or `unmailable`, for an address the outbox rejects, such as one that is not
  ASCII. Such an address was left out of the mail without a trace on the ticket before.
- `ticketcloud_mail_skip.bounced_at` becomes nullable: an unmailable address never
  bounced.

Batch mode, because SQLite cannot change a column's nullability in place; no table
references `ticketcloud_mail_skip`, so rebuilding it is safe.

Revision ID: ticketcloud_0019
Revises: ticketcloud_0018
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ticketcloud_0019"
down_revision: str | Sequence[str] | None = "ticketcloud_0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REASON = sa.Enum("bounced", "unmailable", name="mailskipreason", native_enum=False,
                  length=16)


def upgrade() -> None:
    with op.batch_alter_table("ticketcloud_mail_skip") as batch_op:
        batch_op.add_column(sa.Column("reason", _REASON, nullable=False,
                                      server_default="bounced"))
        batch_op.alter_column("bounced_at", existing_type=sa.DateTime(timezone=True),
                              nullable=True)


def downgrade() -> None:
    # Unmailable skips have no bounce time, so they cannot stay.
    op.execute("DELETE FROM ticketcloud_mail_skip WHERE reason = 'unmailable'")
    with op.batch_alter_table("ticketcloud_mail_skip") as batch_op:
        batch_op.alter_column("bounced_at", existing_type=sa.DateTime(timezone=True),
                              nullable=False)
        batch_op.drop_column("reason")
