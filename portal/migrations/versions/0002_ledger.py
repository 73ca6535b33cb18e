"""The download ledger: entries, stored tree nodes, reason texts, checkpoints, cosignatures.

Revision ID: 0002_ledger
Revises: 0001_accounts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ledger"
down_revision = "0001_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("urn", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("idx"),
    )
    for column in ("kind", "at", "actor_id", "urn"):
        op.create_index(f"ix_ledger_entries_{column}", "ledger_entries", [column])
    op.create_table(
        "ledger_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "ledger_reason_texts",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("salt", sa.LargeBinary(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("idx"),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size"),
    )
    op.create_table(
        "ledger_cosignatures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("witness_vkey", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ledger_cosignatures_size", "ledger_cosignatures", ["size"])


def downgrade() -> None:
    op.drop_table("ledger_cosignatures")
    op.drop_table("ledger_checkpoints")
    op.drop_table("ledger_reason_texts")
    op.drop_table("ledger_nodes")
    op.drop_table("ledger_entries")
