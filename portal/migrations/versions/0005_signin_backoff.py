"""Sign-in back-off by (email address, client address).

Revision ID: 0004_signin_backoff
Revises: 0003_registers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_signin_backoff"
down_revision = "0004_partners"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signin_backoff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_signin_backoff_key", "signin_backoff", ["key"])
    op.create_index("ix_signin_backoff_at", "signin_backoff", ["at"])


def downgrade() -> None:
    op.drop_table("signin_backoff")
