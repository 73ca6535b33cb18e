"""The demo council's register: most schools signed, a few not.

So a newcomer sees every case: a school escalated after two letters and no contact, one in
conversation (refused a download, not yet escalated), one whose conversation ended without
resolution, an agreement past its review date and one on an old version. The first two open
schools (where the demo DSLs are made) are always signed, so the demo download works.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import create_engine, select

from portal.registers.record import SchoolRecord, Versions
from schemas.registers import ENDED_UNRESOLVED, IN_CONVERSATION, NO_CONTACT
from schemas.source import EDU_SCHOOLS

TITLES = ("Chair of Governors", "Headteacher", "Chair of the Trust Board")


def open_schools(roll_url: str) -> list[tuple[int, str]]:
    """(URN, name) of every open school on the roll, in URN order."""
    engine = create_engine(roll_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(EDU_SCHOOLS.c.SCHOOL_URN, EDU_SCHOOLS.c.SCHOOL_NAME)
                                .where(EDU_SCHOOLS.c.IS_OPEN == "Y")
                                .order_by(EDU_SCHOOLS.c.SCHOOL_URN)).all()
    finally:
        engine.dispose()
    return [(int(urn), str(name)) for urn, name in rows]


def _signed(urn: int, name: str, i: int, today: date, versions: Versions,
            agreement_version: str, signed_on: date, review_on: date) -> SchoolRecord:
    return SchoolRecord(
        urn=urn, name=name, protocol_signed_on=signed_on,
        protocol_signatory_title=TITLES[i % len(TITLES)],
        protocol_minute_ref=f"FGB {signed_on.year}/{i + 3:02d}",
        protocol_version=versions.protocol, agreement_signed_on=signed_on,
        agreement_version=agreement_version, agreement_review_on=review_on,
        letters=(signed_on - timedelta(days=21),), contact_status=IN_CONVERSATION)


def record_for(i: int, urn: int, name: str, today: date, versions: Versions) -> SchoolRecord:
    """The i-th open school's entry; the pattern repeats every ten schools."""
    two_letters = (today - timedelta(days=70), today - timedelta(days=42))
    kind = i % 10
    if kind == 2:
        return SchoolRecord(urn=urn, name=name, letters=two_letters, contact_status=NO_CONTACT,
                            note="no reply to either letter")
    if kind == 5:
        return SchoolRecord(urn=urn, name=name, letters=two_letters[1:],
                            contact_status=IN_CONVERSATION,
                            note="business manager asked for the protocol again")
    if kind == 8:
        return SchoolRecord(urn=urn, name=name, letters=two_letters,
                            contact_status=ENDED_UNRESOLVED,
                            note="governors declined at their last meeting")
    if kind == 6:
        signed = today - timedelta(days=1200)
        return _signed(urn, name, i, today, versions, versions.agreement, signed,
                       today - timedelta(days=100))
    signed = today - timedelta(days=400 + 7 * i)
    agreement = "0.9" if kind == 9 else versions.agreement
    return _signed(urn, name, i, today, versions, agreement, signed,
                   signed + timedelta(days=3 * 365))


def demo_register(schools: list[tuple[int, str]], today: date,
                  versions: Versions) -> list[SchoolRecord]:
    return [record_for(i, urn, name, today, versions) for i, (urn, name) in enumerate(schools)]
