"""The partner register's tables, on the portal's one metadata (migration ``0004_partners``).

A partner's row holds its agreement's dates; its schools and agreed columns are rows of their
own, so the nightly run can read them with plain SQL (``publish.partner_register``) and the
portal can ask "which partners cover school X" without parsing a text cell. ``user_partners``
names the partner a portal user collects for, as ``user_schools`` does for schools.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from databook.database import Base


class Partner(Base):
    """One multi-agency partner and its data-sharing agreement."""

    __tablename__ = "partners"

    partner_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    dsa_signed_on: Mapped[date | None] = mapped_column(Date)
    dsa_review_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    schools: Mapped[list[PartnerSchool]] = relationship(
        cascade="all, delete-orphan", order_by="PartnerSchool.urn")
    columns: Mapped[list[PartnerColumn]] = relationship(
        cascade="all, delete-orphan", order_by="PartnerColumn.position")


class PartnerSchool(Base):
    """A school whose pupils are in the partner's cohort."""

    __tablename__ = "partner_schools"

    partner_id: Mapped[str] = mapped_column(
        ForeignKey("partners.partner_id", ondelete="CASCADE"), primary_key=True)
    urn: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class PartnerColumn(Base):
    """A workbook column the partner's agreement lets it see, by schema key."""

    __tablename__ = "partner_columns"

    partner_id: Mapped[str] = mapped_column(
        ForeignKey("partners.partner_id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class UserPartner(Base):
    """The partner a portal user collects for (one partner per partner user)."""

    __tablename__ = "user_partners"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    partner_id: Mapped[str] = mapped_column(
        ForeignKey("partners.partner_id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
