"""Multi-agency partners: the partner register (cohort schools, agreed columns, agreement
dates) and the partner each partner user collects for.

Revision ID: 0004_partners
Revises: 0003_registers
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_partners"
down_revision = "0003_registers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("partner_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("dsa_signed_on", sa.Date(), nullable=True),
        sa.Column("dsa_review_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_id"),
    )
    op.create_table(
        "partner_schools",
        sa.Column("partner_id", sa.String(40), nullable=False),
        sa.Column("urn", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.partner_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("partner_id", "urn"),
    )
    op.create_table(
        "partner_columns",
        sa.Column("partner_id", sa.String(40), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.partner_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("partner_id", "key"),
    )
    op.create_table(
        "user_partners",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.String(40), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["partner_id"], ["partners.partner_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "partner_id"),
    )


def downgrade() -> None:
    op.drop_table("user_partners")
    op.drop_table("partner_columns")
    op.drop_table("partner_schools")
    op.drop_table("partners")
