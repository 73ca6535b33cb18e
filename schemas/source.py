"""The source contract (docs/reference/source-contract.md) as SQLAlchemy tables.

One definition serves three readers: the demo generator creates these tables, the extract
selects from them (and checks a real database has the columns it needs), and the tests build
PostgreSQL copies from them. Tables carry no schema name: a SQL Server login's default schema
(``dbo``) or a PostgreSQL ``search_path`` in the URL decides where they are found.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, Numeric, String, Table

case_metadata = MetaData()
roll_metadata = MetaData()


def _id(name: str, *, primary_key: bool = False) -> Column[Any]:
    # NUMERIC(16) in Mosaic; asdecimal=False so every dialect hands back plain ints.
    return Column(name, Numeric(16, 0, asdecimal=False), primary_key=primary_key,
                  autoincrement=False, index=not primary_key and name.endswith("PERSON_ID"))


def _flag(name: str) -> Column[str]:
    return Column(name, String(1))


DM_PERSONS = Table(
    "DM_PERSONS", case_metadata,
    _id("PERSON_ID", primary_key=True),
    Column("FULL_NAME", String(62)),
    Column("FIRST_NAME", String(30)),
    Column("LAST_NAME", String(30)),
    Column("DATE_OF_BIRTH", DateTime),
    Column("DATE_OF_DEATH", DateTime),
    Column("GENDER", String(1)),
    _flag("RESTRICTED"),
    Column("UPN_ID", String(13)),
    Column("FORMER_UPN_ID", String(13)),
)

DM_PERSON_REFERENCES = Table(
    "DM_PERSON_REFERENCES", case_metadata,
    _id("REFERENCE_ID", primary_key=True),
    _id("PERSON_ID"),
    Column("REFERENCE_TYPE", String(16)),
    Column("REFERENCE", String(64)),
)

DM_ADDRESSES = Table(
    "DM_ADDRESSES", case_metadata,
    _id("REF_ADDRESSES_PEOPLE_ID", primary_key=True),
    _id("REF_ADDRESS_ID"),
    _id("PERSON_ID"),
    Column("START_DATE", DateTime),
    Column("END_DATE", DateTime),
    Column("ADDRESS", String(464)),
    Column("POST_CODE", String(16)),
    Column("ADDRESS_TYPE", String(16)),
    _flag("IS_CONTACT_ADDRESS"),
    _flag("IS_DISPLAY_ADDRESS"),
)

DM_CIN_REFERRALS = Table(
    "DM_CIN_REFERRALS", case_metadata,
    _id("REFERRAL_ID", primary_key=True),
    _id("PERSON_ID"),
    Column("REFERRAL_DATE", DateTime),
    Column("CLOSURE_DATE", DateTime),
    Column("CLOSURE_REASON", String(8)),
)

DM_REGISTRATIONS = Table(
    "DM_REGISTRATIONS", case_metadata,
    _id("REGISTRATION_ID", primary_key=True),
    _id("PERSON_ID"),
    Column("REGISTRATION_START_DATE", DateTime),
    Column("DEREGISTRATION_DATE", DateTime),
    _flag("IS_CHILD_PROTECTION_PLAN"),
    _flag("IS_TEMPORARY_CHILD_PROTECTION"),
)

DM_PERIODS_OF_CARE = Table(
    "DM_PERIODS_OF_CARE", case_metadata,
    _id("PERIOD_OF_CARE_ID", primary_key=True),
    _id("PERSON_ID"),
    Column("START_DATE", DateTime),
    Column("END_DATE", DateTime),
)

DM_LEGAL_STATUSES = Table(
    "DM_LEGAL_STATUSES", case_metadata,
    _id("LEGAL_STATUS_ID", primary_key=True),
    _id("PERSON_ID"),
    _id("PERIOD_OF_CARE_ID"),
    Column("LEGAL_STATUS", String(8)),
    Column("START_DATE", DateTime),
    Column("END_DATE", DateTime),
    _flag("IS_RESPITE_CARE"),
)

DM_ALLOCATED_WORKERS = Table(
    "DM_ALLOCATED_WORKERS", case_metadata,
    _id("ALLOCATION_ID", primary_key=True),
    _id("PERSON_ID"),
    _id("WORKER_ID"),
    Column("START_DATE", DateTime),
    Column("END_DATE", DateTime),
)

DM_WORKERS = Table(
    "DM_WORKERS", case_metadata,
    _id("WORKER_ID", primary_key=True),
    Column("FULL_NAME", String(62)),
)

LA_WORKER_TELEPHONE_NUMBERS = Table(
    "LA_WORKER_TELEPHONE_NUMBERS", case_metadata,
    _id("TELEPHONE_ID", primary_key=True),
    _id("WORKER_ID"),
    Column("TELEPHONE_NUMBER", String(32)),
    Column("NUMBER_TYPE", String(16)),
    _flag("IS_PRIMARY"),
)

LA_PERSON_WARNINGS = Table(
    "LA_PERSON_WARNINGS", case_metadata,
    _id("WARNING_ID", primary_key=True),
    _id("PERSON_ID"),
    Column("WARNING_TYPE", String(16)),
    Column("START_DATE", DateTime),
    Column("END_DATE", DateTime),
    Column("REVIEW_DATE", DateTime),
    Column("NOTE", String(2000)),
)

LA_POLICE_NOTIFICATIONS = Table(
    "LA_POLICE_NOTIFICATIONS", case_metadata,
    _id("NOTIFICATION_ID", primary_key=True),
    _id("PERSON_ID"),
    Column("NOTIFICATION_DATE", DateTime),
    Column("INCIDENT_DATE", DateTime),
    Column("NOTIFICATION_TYPE", String(16)),
    Column("POLICE_REFERENCE", String(32)),
    Column("DETAILS", String(4000)),
)

EDU_SCHOOLS = Table(
    "EDU_SCHOOLS", roll_metadata,
    Column("SCHOOL_URN", Integer, primary_key=True, autoincrement=False),
    Column("DFE_NUMBER", String(8)),
    Column("SCHOOL_NAME", String(120)),
    Column("PHASE", String(24)),
    _flag("IS_OPEN"),
)

EDU_ENROLMENTS = Table(
    "EDU_ENROLMENTS", roll_metadata,
    _id("ENROLMENT_ID", primary_key=True),
    _id("EDU_PERSON_ID"),
    Column("UPN", String(13), index=True),
    Column("SCHOOL_URN", Integer, index=True),
    Column("ENTRY_DATE", DateTime),
    Column("LEAVING_DATE", DateTime),
    Column("ENROLMENT_STATUS", String(1)),
)

#: Columns that hold free text or police-sourced (PSN) data. The extract never selects them;
#: a test proves no query names them and no output contains their text.
NEVER_EXTRACTED: dict[str, frozenset[str]] = {
    "LA_PERSON_WARNINGS": frozenset({"NOTE"}),
    "LA_POLICE_NOTIFICATIONS": frozenset({"DETAILS", "POLICE_REFERENCE"}),
}

#: Dated tables and their (start, end) columns: a row is current on T when start <= T and
#: (no end, or end > T).
PERIOD_COLUMNS: dict[str, tuple[str, str]] = {
    "DM_ADDRESSES": ("START_DATE", "END_DATE"),
    "DM_CIN_REFERRALS": ("REFERRAL_DATE", "CLOSURE_DATE"),
    "DM_REGISTRATIONS": ("REGISTRATION_START_DATE", "DEREGISTRATION_DATE"),
    "DM_PERIODS_OF_CARE": ("START_DATE", "END_DATE"),
    "DM_LEGAL_STATUSES": ("START_DATE", "END_DATE"),
    "DM_ALLOCATED_WORKERS": ("START_DATE", "END_DATE"),
    "LA_PERSON_WARNINGS": ("START_DATE", "END_DATE"),
    "EDU_ENROLMENTS": ("ENTRY_DATE", "LEAVING_DATE"),
}

TABLES: dict[str, Table] = {**case_metadata.tables, **roll_metadata.tables}


def primary_key(table: str) -> str:
    (column,) = TABLES[table].primary_key.columns
    return str(column.name)


def date_columns(table: str) -> tuple[str, ...]:
    """The table's date columns (``DATETIME`` in the contract; the time part is ignored)."""
    return tuple(str(c.name) for c in TABLES[table].columns if isinstance(c.type, DateTime))


def text_lengths(table: str) -> dict[str, int]:
    """Each text column's declared length: a longer value cannot have come from the contract's
    column, so it means a view that joins or pads text it should not."""
    return {str(c.name): int(c.type.length) for c in TABLES[table].columns
            if isinstance(c.type, String) and c.type.length}


#: Id columns a row hangs on besides its primary key, and whether an empty or unreadable one
#: can lose a child (then it blocks publishing; otherwise the row is left out and listed).
#: ``EDU_PERSON_ID`` may be NULL (the UPN identifies the pupil) but never text.
LINK_COLUMNS: dict[str, dict[str, bool]] = {
    "DM_PERSON_REFERENCES": {"PERSON_ID": True},
    "DM_ADDRESSES": {"PERSON_ID": False},
    "DM_CIN_REFERRALS": {"PERSON_ID": True},
    "DM_REGISTRATIONS": {"PERSON_ID": True},
    "DM_PERIODS_OF_CARE": {"PERSON_ID": True},
    "DM_LEGAL_STATUSES": {"PERSON_ID": False, "PERIOD_OF_CARE_ID": False},
    "DM_ALLOCATED_WORKERS": {"PERSON_ID": False, "WORKER_ID": False},
    "LA_WORKER_TELEPHONE_NUMBERS": {"WORKER_ID": False},
    "LA_PERSON_WARNINGS": {"PERSON_ID": True},  # an address-withholding caution must not drop
    "LA_POLICE_NOTIFICATIONS": {"PERSON_ID": False},
    "EDU_ENROLMENTS": {"SCHOOL_URN": True, "EDU_PERSON_ID": True},
}
#: Link columns that may be empty (the row is identified another way).
NULLABLE_LINKS: frozenset[tuple[str, str]] = frozenset({("EDU_ENROLMENTS", "EDU_PERSON_ID")})
#: Tables whose dates decide whether a child appears, or what a school is told about them
#: (on roll, in need, on a plan, looked after, address withheld): an unreadable date there
#: blocks publishing; elsewhere the row is left out.
DECIDING_DATE_TABLES: frozenset[str] = frozenset({
    "EDU_ENROLMENTS", "DM_CIN_REFERRALS", "DM_REGISTRATIONS", "DM_PERIODS_OF_CARE",
    "LA_PERSON_WARNINGS"})
