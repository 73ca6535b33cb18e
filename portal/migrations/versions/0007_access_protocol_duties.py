"""The access protocol's duties: concerns reported, leavers reported, sample checks.

Revision ID: 0007_access_protocol_duties
Revises: 0006_ledger_entry_seal
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007_access_protocol_duties"
down_revision = "0006_ledger_entry_seal"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), sa.ForeignKey("users.id"), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "concerns",
        sa.Column("id", sa.Integer(), nullable=False),
        _user("reported_by", nullable=False),
        sa.Column("reporter_email", sa.String(254), nullable=False),
        sa.Column("urn", sa.Integer(), nullable=True),
        sa.Column("partner_id", sa.String(40), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("happened_on", sa.Date(), nullable=False),
        sa.Column("access_index", sa.BigInteger(), nullable=True),
        _when("reported_at"),
        sa.Column("ledger_index", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        _when("status_at"),
        _user("status_by"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_concerns_reported_by", "concerns", ["reported_by"])
    op.create_index("ix_concerns_urn", "concerns", ["urn"])
    op.create_table(
        "leaver_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        _user("user_id", nullable=False),
        sa.Column("urn", sa.Integer(), nullable=False),
        _user("reported_by", nullable=False),
        sa.Column("reporter_role", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        _when("reported_at"),
        sa.Column("previous_state", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _user("decided_by"),
        _when("decided_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_leaver_reports_user_id", "leaver_reports", ["user_id"])
    op.create_table(
        "sample_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("urn", sa.Integer(), nullable=True),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        _user("drawn_by"),
        _when("drawn_at"),
        sa.Column("ledger_index", sa.BigInteger(), nullable=False),
        _user("signed_off_by"),
        _when("signed_off_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "sample_items",
        sa.Column("check_id", sa.Integer(),
                  sa.ForeignKey("sample_checks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("entry_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("finding", sa.String(24), nullable=True),
        _user("noted_by"),
        _when("noted_at", nullable=True),
        sa.PrimaryKeyConstraint("check_id", "entry_index"),
    )


def downgrade() -> None:
    op.drop_table("sample_items")
    op.drop_table("sample_checks")
    op.drop_index("ix_leaver_reports_user_id", table_name="leaver_reports")
    op.drop_table("leaver_reports")
    op.drop_index("ix_concerns_urn", table_name="concerns")
    op.drop_index("ix_concerns_reported_by", table_name="concerns")
    op.drop_table("concerns")
