"""The register tables, on the portal's one metadata (made by migration ``0003_registers``).

A school's row says what it signed and how it was chased; letters are their own rows so any
number can be recorded; a user's confirmation row says when the school was last asked "is
this person still your safeguarding lead?" and when it said yes.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from databook.database import Base


class SchoolRegister(Base):
    """One school's access protocol, data-sharing agreement and contact status."""

    __tablename__ = "school_registers"

    urn: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    protocol_signed_on: Mapped[date | None] = mapped_column(Date)
    protocol_signatory_title: Mapped[str] = mapped_column(String(100), default="")
    protocol_minute_ref: Mapped[str] = mapped_column(String(100), default="")
    protocol_version: Mapped[str] = mapped_column(String(40), default="")
    agreement_signed_on: Mapped[date | None] = mapped_column(Date)
    agreement_version: Mapped[str] = mapped_column(String(40), default="")
    agreement_review_on: Mapped[date | None] = mapped_column(Date)
    contact_status: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(2000), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    letters: Mapped[list[RegisterLetter]] = relationship(
        back_populates="school", cascade="all, delete-orphan", order_by="RegisterLetter.sent_on")


class RegisterLetter(Base):
    """A letter asking the school to return its protocol and agreement."""

    __tablename__ = "school_register_letters"

    urn: Mapped[int] = mapped_column(
        ForeignKey("school_registers.urn", ondelete="CASCADE"), primary_key=True)
    sent_on: Mapped[date] = mapped_column(Date, primary_key=True)
    school: Mapped[SchoolRegister] = relationship(back_populates="letters")


class DslConfirmation(Base):
    """This term's request to confirm a user as a school's DSL, and the school's answer."""

    __tablename__ = "dsl_confirmations"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, autoincrement=False)
    urn: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    requested_on: Mapped[date | None] = mapped_column(Date)
    confirmed_on: Mapped[date | None] = mapped_column(Date)
    confirmed_by: Mapped[str] = mapped_column(String(200), default="")
    #: When the suspension was recorded in the ledger (cleared by a confirmation), so each
    #: lapse is recorded once however often the sweep runs.
    suspended_on: Mapped[date | None] = mapped_column(Date)
