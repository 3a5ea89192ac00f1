"""Add the CA file that verifies an IMAP mailbox's server certificate.

Revision ID: portal_0007
Revises: portal_0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'portal_0007'
down_revision: str | Sequence[str] | None = 'portal_0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # --- IMAP over TLS: the CA file that verifies a mailbox's server certificate. ---
    with op.batch_alter_table('portal_mail_imap_mailbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ca_file', sa.String(length=1024), nullable=True))
    # --- end of IMAP over TLS ---


def downgrade() -> None:
    # --- IMAP over TLS ---
    with op.batch_alter_table('portal_mail_imap_mailbox', schema=None) as batch_op:
        batch_op.drop_column('ca_file')
    # --- end of IMAP over TLS ---
