"""The tables of the access protocol's duties (made by migration
``0007_access_protocol_duties``).

None holds a child's details. A concern's account of what happened is free text a person
typed, so it is never stored here: the ledger keeps it apart from the signed entry (its
commitment is signed), keyed by the entry's index (``ledger_index``).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from databook.database import Base

#: A concern's status: new, being investigated, or closed one of three ways.
CONCERN_STATUSES = {
    "new": "New",
    "investigating": "Investigating",
    "closed_referred": "Closed: referred to the school",
    "closed_ico": "Closed: reported to the ICO",
    "closed_no_breach": "Closed: no breach",
}
#: What a concern is about.
CONCERN_KINDS = {
    "breach": "A suspected breach (data seen, lost or sent where it should not be)",
    "misuse": "Suspected inappropriate use of the databook or the look-up",
}
#: A leaver report: suspended at once, then the council confirms (left) or reverses.
LEAVER_STATES = ("suspended", "confirmed", "reversed")
#: Why a colleague's access should end.
LEAVER_REASONS = {
    "left_school": "Has left the school's employment",
    "new_role": "Has moved to a role that does not need the databook",
    "long_absence": "Is on a long absence",
    "other": "Another reason (the council will ask)",
}
#: A sample check's finding for one sampled access.
FINDINGS = {
    "appropriate": "Appropriate",
    "reason_inadequate": "Reason inadequate",
    "referred": "Referred to the school",
}


class Concern(Base):
    __tablename__ = "concerns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reported_by: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reporter_email: Mapped[str] = mapped_column(String(254))
    urn: Mapped[int | None] = mapped_column(Integer, index=True)
    partner_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))
    happened_on: Mapped[date] = mapped_column(Date)
    #: The reporter's own download or look-up it concerns (a ledger index), if they chose one.
    access_index: Mapped[int | None] = mapped_column(BigInteger)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The ``concern_reported`` entry: its reason text is what the reporter wrote.
    ledger_index: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(24), default="new")
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class LeaverReport(Base):
    __tablename__ = "leaver_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    urn: Mapped[int] = mapped_column(Integer)
    reported_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    reporter_role: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(16))
    last_day: Mapped[date] = mapped_column(Date)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: The account's state before the suspension, restored if the council reverses it.
    previous_state: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="suspended")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SampleCheck(Base):
    __tablename__ = "sample_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    urn: Mapped[int | None] = mapped_column(Integer)  # None: county-wide
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    size: Mapped[int] = mapped_column(Integer)
    seed: Mapped[str] = mapped_column(String(64))
    population: Mapped[int] = mapped_column(Integer)
    drawn_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    drawn_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ledger_index: Mapped[int] = mapped_column(BigInteger)
    signed_off_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    signed_off_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    items: Mapped[list[SampleItem]] = relationship(
        back_populates="check", cascade="all, delete-orphan", order_by="SampleItem.entry_index")


class SampleItem(Base):
    __tablename__ = "sample_items"

    check_id: Mapped[int] = mapped_column(ForeignKey("sample_checks.id", ondelete="CASCADE"),
                                          primary_key=True)
    entry_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    finding: Mapped[str | None] = mapped_column(String(24))
    noted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    noted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    check: Mapped[SampleCheck] = relationship(back_populates="items")
