"""The governance registers: schools' protocols and agreements, letters, DSL confirmations.

Revision ID: 0003_registers
Revises: 0002_ledger
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_registers"
down_revision = "0002_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "school_registers",
        sa.Column("urn", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("protocol_signed_on", sa.Date(), nullable=True),
        sa.Column("protocol_signatory_title", sa.String(100), nullable=False),
        sa.Column("protocol_minute_ref", sa.String(100), nullable=False),
        sa.Column("protocol_version", sa.String(40), nullable=False),
        sa.Column("agreement_signed_on", sa.Date(), nullable=True),
        sa.Column("agreement_version", sa.String(40), nullable=False),
        sa.Column("agreement_review_on", sa.Date(), nullable=True),
        sa.Column("contact_status", sa.String(32), nullable=False),
        sa.Column("note", sa.String(2000), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("urn"),
    )
    op.create_table(
        "school_register_letters",
        sa.Column("urn", sa.Integer(), nullable=False),
        sa.Column("sent_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["urn"], ["school_registers.urn"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("urn", "sent_on"),
    )
    op.create_table(
        "dsl_confirmations",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("urn", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("requested_on", sa.Date(), nullable=True),
        sa.Column("confirmed_on", sa.Date(), nullable=True),
        sa.Column("confirmed_by", sa.String(200), nullable=False),
        sa.Column("suspended_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "urn"),
    )


def downgrade() -> None:
    op.drop_table("dsl_confirmations")
    op.drop_table("school_register_letters")
    op.drop_table("school_registers")
