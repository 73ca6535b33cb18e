"""The extract's queries, in SQLAlchemy Core so that they compile for SQL Server, PostgreSQL
and SQLite alike (a test compiles each for ``mssql`` and parses it as T-SQL).

Least data: each query names only the columns an indicator needs; people are limited to those
with a social care record (a referral, a child protection registration or a period of care),
so the names of adults and professionals on Mosaic are never read; home telephone numbers and
police notifications of other kinds are filtered out in the database. The free-text ``NOTE``
and the police-sourced ``DETAILS`` and ``POLICE_REFERENCE`` are never selected.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, DateTime, Select, Table, select, type_coerce, union
from sqlalchemy.sql.expression import CompoundSelect
from sqlalchemy.types import NullType

from schemas import codes
from schemas import source as s

#: Columns read from each table, in the order they reach the transform.
CASE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "DM_PERSONS": ("PERSON_ID", "FIRST_NAME", "LAST_NAME", "DATE_OF_BIRTH", "RESTRICTED",
                   "UPN_ID", "FORMER_UPN_ID"),
    "DM_PERSON_REFERENCES": ("REFERENCE_ID", "PERSON_ID", "REFERENCE_TYPE", "REFERENCE"),
    "DM_ADDRESSES": ("REF_ADDRESSES_PEOPLE_ID", "PERSON_ID", "START_DATE", "END_DATE", "ADDRESS",
                     "POST_CODE", "ADDRESS_TYPE", "IS_CONTACT_ADDRESS", "IS_DISPLAY_ADDRESS"),
    "DM_CIN_REFERRALS": ("REFERRAL_ID", "PERSON_ID", "REFERRAL_DATE", "CLOSURE_DATE"),
    "DM_REGISTRATIONS": ("REGISTRATION_ID", "PERSON_ID", "REGISTRATION_START_DATE",
                         "DEREGISTRATION_DATE", "IS_TEMPORARY_CHILD_PROTECTION"),
    "DM_PERIODS_OF_CARE": ("PERIOD_OF_CARE_ID", "PERSON_ID", "START_DATE", "END_DATE"),
    "DM_LEGAL_STATUSES": ("LEGAL_STATUS_ID", "PERSON_ID", "PERIOD_OF_CARE_ID", "LEGAL_STATUS",
                          "START_DATE", "END_DATE", "IS_RESPITE_CARE"),
    "DM_ALLOCATED_WORKERS": ("ALLOCATION_ID", "PERSON_ID", "WORKER_ID", "START_DATE", "END_DATE"),
    "DM_WORKERS": ("WORKER_ID", "FULL_NAME"),
    "LA_WORKER_TELEPHONE_NUMBERS": ("TELEPHONE_ID", "WORKER_ID", "TELEPHONE_NUMBER",
                                    "NUMBER_TYPE", "IS_PRIMARY"),
    "LA_PERSON_WARNINGS": ("WARNING_ID", "PERSON_ID", "WARNING_TYPE", "START_DATE", "END_DATE"),
    "LA_POLICE_NOTIFICATIONS": ("NOTIFICATION_ID", "PERSON_ID", "NOTIFICATION_DATE"),
}

ROLL_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "EDU_SCHOOLS": ("SCHOOL_URN", "DFE_NUMBER", "SCHOOL_NAME", "PHASE", "IS_OPEN"),
    "EDU_ENROLMENTS": ("ENROLMENT_ID", "EDU_PERSON_ID", "UPN", "SCHOOL_URN", "ENTRY_DATE",
                       "LEAVING_DATE", "ENROLMENT_STATUS"),
}

#: Columns used only in WHERE clauses: the database must have them, the frames do not carry them.
FILTER_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "DM_REGISTRATIONS": ("IS_CHILD_PROTECTION_PLAN",),
    "LA_POLICE_NOTIFICATIONS": ("NOTIFICATION_TYPE",),
}


@dataclass(frozen=True)
class ExtractFilters:
    """The code lists that narrow what is read (a council's own codes, from configuration)."""

    number_types: Collection[str] = codes.PUBLISHABLE_NUMBER_TYPES
    dv_types: Collection[str] = codes.DOMESTIC_ABUSE_NOTIFICATIONS
    reference_types: Collection[str] = field(
        default_factory=lambda: (codes.REFERENCE_UPN, codes.REFERENCE_EMS))


def needed_columns(columns: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    return {t: cols + FILTER_COLUMNS.get(t, ()) for t, cols in columns.items()}


def _columns(table: Table, names: Mapping[str, tuple[str, ...]]) -> Select[tuple[object, ...]]:
    """The named columns; dates come back as the driver gives them (no type conversion), so a
    council view holding text in a date column reaches the extract's own lenient parse, which
    names the row, instead of failing inside the driver layer with the value in its message."""
    return select(*(type_coerce(table.c[name], NullType()).label(name)
                    if isinstance(table.c[name].type, DateTime) else table.c[name]
                    for name in names[table.name]))


def case_people() -> CompoundSelect[tuple[object, ...]]:
    """Everyone with a social care record of any date; the transform applies the as-at date."""
    return union(
        select(s.DM_CIN_REFERRALS.c.PERSON_ID),
        select(s.DM_REGISTRATIONS.c.PERSON_ID).where(cp_plan()),
        select(s.DM_PERIODS_OF_CARE.c.PERSON_ID),
    )


def cp_plan() -> ColumnElement[bool]:
    return s.DM_REGISTRATIONS.c.IS_CHILD_PROTECTION_PLAN == codes.YES


def case_queries(filters: ExtractFilters) -> dict[str, Select[tuple[object, ...]]]:
    people = case_people().subquery("case_people")
    in_case = people.c.PERSON_ID
    cols = CASE_COLUMNS

    def for_case_people(table: Table) -> Select[tuple[object, ...]]:
        return _columns(table, cols).where(table.c.PERSON_ID.in_(select(in_case)))

    allocated = select(s.DM_ALLOCATED_WORKERS.c.WORKER_ID).where(
        s.DM_ALLOCATED_WORKERS.c.PERSON_ID.in_(select(in_case)))
    phones = s.LA_WORKER_TELEPHONE_NUMBERS
    refs = s.DM_PERSON_REFERENCES
    notes = s.LA_POLICE_NOTIFICATIONS
    return {
        "DM_PERSONS": for_case_people(s.DM_PERSONS),
        "DM_PERSON_REFERENCES": for_case_people(refs).where(
            refs.c.REFERENCE_TYPE.in_(sorted(filters.reference_types))),
        "DM_ADDRESSES": for_case_people(s.DM_ADDRESSES),
        "DM_CIN_REFERRALS": _columns(s.DM_CIN_REFERRALS, cols),
        "DM_REGISTRATIONS": _columns(s.DM_REGISTRATIONS, cols).where(cp_plan()),
        "DM_PERIODS_OF_CARE": _columns(s.DM_PERIODS_OF_CARE, cols),
        "DM_LEGAL_STATUSES": _columns(s.DM_LEGAL_STATUSES, cols),
        "DM_ALLOCATED_WORKERS": for_case_people(s.DM_ALLOCATED_WORKERS),
        "DM_WORKERS": _columns(s.DM_WORKERS, cols).where(s.DM_WORKERS.c.WORKER_ID.in_(allocated)),
        "LA_WORKER_TELEPHONE_NUMBERS": _columns(phones, cols).where(
            phones.c.WORKER_ID.in_(allocated),
            phones.c.NUMBER_TYPE.in_(sorted(filters.number_types))),
        "LA_PERSON_WARNINGS": for_case_people(s.LA_PERSON_WARNINGS),
        "LA_POLICE_NOTIFICATIONS": for_case_people(notes).where(
            notes.c.NOTIFICATION_TYPE.in_(sorted(filters.dv_types))),
    }


def personless_queries() -> dict[str, Select[tuple[object, ...]]]:
    """The primary keys of rows that name no person, in the tables read only for case people.

    Those rows never match the case-people filter, so without these queries they would vanish
    unseen: a ``DM_PERSONS`` row with a NULL ``PERSON_ID`` is a child whose referrals and plans
    then belong to nobody. Only ids are read (for ``DM_PERSONS`` the key is the missing value
    itself, so each row reads as one ``None``)."""
    return {table.name: select(table.c[s.primary_key(table.name)]).where(
                table.c.PERSON_ID.is_(None))
            for table in (s.DM_PERSONS, s.DM_PERSON_REFERENCES, s.DM_ADDRESSES,
                          s.DM_ALLOCATED_WORKERS, s.LA_PERSON_WARNINGS,
                          s.LA_POLICE_NOTIFICATIONS)}


def roll_queries() -> dict[str, Select[tuple[object, ...]]]:
    return {
        "EDU_SCHOOLS": _columns(s.EDU_SCHOOLS, ROLL_COLUMNS),
        "EDU_ENROLMENTS": _columns(s.EDU_ENROLMENTS, ROLL_COLUMNS),
    }
