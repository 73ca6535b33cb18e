"""The ledger's tables, on the portal's one metadata (migration 0002_ledger).

``ledger_entries`` is the log itself: the exact entry bytes and their leaf hash, plus a few
copies of fields (kind, time, actor, school) so reports can filter in SQL; ``audit verify``
checks those copies against the signed bytes, so they cannot be trusted more than the bytes.
``ledger_nodes`` keeps every completed perfect-subtree hash so a proof costs O(log n) reads.
``ledger_reason_texts`` is apart from the log on purpose: see ``databook.ledger.entries``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from databook.database import Base


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    urn: Mapped[int | None] = mapped_column(Integer, index=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: HMAC-SHA256 of the entry bytes under a key kept on the portal host, not in the
    #: database (``databook.ledger.sealing``); NULL only on entries from before seals.
    seal: Mapped[bytes | None] = mapped_column(LargeBinary(32))


class LedgerNode(Base):
    __tablename__ = "ledger_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerReasonText(Base):
    __tablename__ = "ledger_reason_texts"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    text: Mapped[str] = mapped_column(Text)


class LedgerCheckpoint(Base):
    __tablename__ = "ledger_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LedgerCosignature(Base):
    __tablename__ = "ledger_cosignatures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    witness_vkey: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)  # the checkpoint with the cosignature line added
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


TABLES = [LedgerEntry.__table__, LedgerNode.__table__, LedgerReasonText.__table__,
          LedgerCheckpoint.__table__, LedgerCosignature.__table__]
