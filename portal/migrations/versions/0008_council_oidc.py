"""Council sign-in through an OpenID Connect provider: identities and pending sign-ins.

Revision ID: 0008_council_oidc
Revises: 0007_access_protocol_duties
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_council_oidc"
down_revision = "0007_access_protocol_duties"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "council_identities",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  autoincrement=False, nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_verified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("issuer", "subject"),
    )
    op.create_table(
        "oidc_pending",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("browser_hash", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("code_verifier", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("state_hash"),
    )
    op.create_index("ix_oidc_pending_created_at", "oidc_pending", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_pending_created_at", table_name="oidc_pending")
    op.drop_table("oidc_pending")
    op.drop_table("council_identities")
