"""Each ledger entry's seal: an HMAC of its bytes under a key on the portal host
(``databook.ledger.sealing``), so entries written with the database alone are detected.

Revision ID: 0006_ledger_entry_seal
Revises: 0005_signin_backoff
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_ledger_entry_seal"
down_revision = "0005_signin_backoff"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.add_column(sa.Column("seal", sa.LargeBinary(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("seal")
