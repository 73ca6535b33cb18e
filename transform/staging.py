"""Staging: rename source columns to short snake_case names, cast types, and set aside rows
that cannot be trusted (recording each as a finding) so the rule layer never sees them.

Dates lose their time part; Y/N flags become booleans (NULL means N); identifiers are trimmed
and upper-cased. Nothing here decides an indicator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from extract import SourceData
from schemas.source import PERIOD_COLUMNS
from transform.findings import Findings
from transform.identity import normalise
from transform.integrity import (
    check_case_people,
    check_people,
    check_schools,
    check_source,
    unreadable_rows,
    whole_ids,
)
from transform.periods import timestamp
from transform.rules_config import Rules


@dataclass(frozen=True)
class Staged:
    persons: pd.DataFrame
    references: pd.DataFrame
    addresses: pd.DataFrame
    referrals: pd.DataFrame
    cp_plans: pd.DataFrame
    care_periods: pd.DataFrame
    legal_statuses: pd.DataFrame
    allocations: pd.DataFrame
    workers: pd.DataFrame
    phones: pd.DataFrame
    warnings: pd.DataFrame
    dv_notifications: pd.DataFrame
    schools: pd.DataFrame
    enrolments: pd.DataFrame


def dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, errors="coerce").dt.normalize().astype("datetime64[us]")


def flag(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().str.upper().eq("Y").fillna(False).astype(bool)


def text(values: pd.Series) -> pd.Series:
    out = values.astype("string").str.strip()
    return out.mask(out == "")


def ids(values: pd.Series) -> pd.Series:
    return whole_ids(values)


def _rename(frame: pd.DataFrame, names: Mapping[str, str]) -> pd.DataFrame:
    return frame.loc[:, list(names)].rename(columns=dict(names))


def periods(frame: pd.DataFrame, names: Mapping[str, str], table: str,
            findings: Findings, *, person: str | None = "person_id",
            unreadable: set[int] | None = None) -> pd.DataFrame:
    """A table of dated rows, its start and end columns (from ``PERIOD_COLUMNS``) renamed to
    ``start`` and ``end``: rows with no start, or that end before they start, are findings and
    are dropped. So are ``unreadable`` rows (a start or end that was not a date, already a
    finding): an end that could not be read must not make a closed plan look open."""
    start, end = PERIOD_COLUMNS[table]
    out = _rename(frame, {**names, start: "start", end: "end"})
    for col in out.columns:
        if col == "id" or col.endswith("_id"):
            out[col] = ids(out[col])
    out["start"] = dates(out["start"])
    out["end"] = dates(out["end"])
    unread = out["id"].isin(unreadable or set()).fillna(False).astype(bool)
    no_start = out["start"].isna() & ~unread
    findings.add("missing-start-date", table, out[no_start], person_id=person)
    backwards = out["end"].notna() & (out["end"] < out["start"])
    findings.add("end-before-start", table, out[backwards], person_id=person)
    return out[~no_start & ~backwards & ~unread].reset_index(drop=True)


def stage(data: SourceData, rules: Rules, findings: Findings) -> Staged:
    check_source(data, findings)

    def dated(frame: pd.DataFrame, names: Mapping[str, str], table: str,
              person: str | None = "person_id") -> pd.DataFrame:
        return periods(frame, names, table, findings, person=person,
                       unreadable=unreadable_rows(data, table))

    p = _rename(data["DM_PERSONS"], {
        "PERSON_ID": "person_id", "FIRST_NAME": "first_name", "LAST_NAME": "last_name",
        "DATE_OF_BIRTH": "date_of_birth", "RESTRICTED": "restricted", "UPN_ID": "upn",
        "FORMER_UPN_ID": "former_upn"})
    persons = p.assign(
        person_id=ids(p["person_id"]), first_name=text(p["first_name"]),
        last_name=text(p["last_name"]), date_of_birth=dates(p["date_of_birth"]),
        restricted=flag(p["restricted"]), upn=normalise(p["upn"]),
        former_upn=normalise(p["former_upn"]),
    ).drop_duplicates("person_id")
    unread_dob = persons["person_id"].isin(unreadable_rows(data, "DM_PERSONS")).fillna(False)
    findings.add("missing-date-of-birth", "DM_PERSONS",
                 persons[persons["date_of_birth"].isna() & ~unread_dob], record_id="person_id")
    check_people(persons, timestamp(rules.as_at), findings)

    r = _rename(data["DM_PERSON_REFERENCES"], {
        "REFERENCE_ID": "id", "PERSON_ID": "person_id", "REFERENCE_TYPE": "kind",
        "REFERENCE": "value"})
    references = r.assign(id=ids(r["id"]), person_id=ids(r["person_id"]),
                          kind=normalise(r["kind"]), value=normalise(r["value"]))

    addresses = dated(data["DM_ADDRESSES"], {
        "REF_ADDRESSES_PEOPLE_ID": "id", "PERSON_ID": "person_id", "ADDRESS": "address",
        "POST_CODE": "post_code", "ADDRESS_TYPE": "address_type",
        "IS_CONTACT_ADDRESS": "is_contact", "IS_DISPLAY_ADDRESS": "is_display"},
        "DM_ADDRESSES")
    addresses = addresses.assign(
        address=text(addresses["address"]), post_code=text(addresses["post_code"]),
        address_type=normalise(addresses["address_type"]),
        is_contact=flag(addresses["is_contact"]), is_display=flag(addresses["is_display"]))

    referrals = dated(data["DM_CIN_REFERRALS"], {
        "REFERRAL_ID": "id", "PERSON_ID": "person_id"}, "DM_CIN_REFERRALS")

    cp_plans = dated(data["DM_REGISTRATIONS"], {
        "REGISTRATION_ID": "id", "PERSON_ID": "person_id",
        "IS_TEMPORARY_CHILD_PROTECTION": "temporary"}, "DM_REGISTRATIONS")
    cp_plans["temporary"] = flag(cp_plans["temporary"])

    care_periods = dated(data["DM_PERIODS_OF_CARE"], {
        "PERIOD_OF_CARE_ID": "id", "PERSON_ID": "person_id"}, "DM_PERIODS_OF_CARE")

    legal = dated(data["DM_LEGAL_STATUSES"], {
        "LEGAL_STATUS_ID": "id", "PERSON_ID": "person_id", "PERIOD_OF_CARE_ID": "period_id",
        "LEGAL_STATUS": "code", "IS_RESPITE_CARE": "respite"}, "DM_LEGAL_STATUSES")
    legal = legal.assign(code=normalise(legal["code"]), respite=flag(legal["respite"]))
    findings.add("unknown-legal-status", "DM_LEGAL_STATUSES",
                 legal[~legal["code"].isin(rules.legal_statuses).fillna(False)])

    allocations = dated(data["DM_ALLOCATED_WORKERS"], {
        "ALLOCATION_ID": "id", "PERSON_ID": "person_id", "WORKER_ID": "worker_id"},
        "DM_ALLOCATED_WORKERS")

    w = _rename(data["DM_WORKERS"], {"WORKER_ID": "worker_id", "FULL_NAME": "name"})
    workers = w.assign(worker_id=ids(w["worker_id"]), name=text(w["name"]))

    ph = _rename(data["LA_WORKER_TELEPHONE_NUMBERS"], {
        "TELEPHONE_ID": "id", "WORKER_ID": "worker_id", "TELEPHONE_NUMBER": "number",
        "NUMBER_TYPE": "kind", "IS_PRIMARY": "primary"})
    phones = ph.assign(id=ids(ph["id"]), worker_id=ids(ph["worker_id"]),
                       number=text(ph["number"]), kind=normalise(ph["kind"]),
                       primary=flag(ph["primary"]))

    warnings = dated(data["LA_PERSON_WARNINGS"], {
        "WARNING_ID": "id", "PERSON_ID": "person_id", "WARNING_TYPE": "code"},
        "LA_PERSON_WARNINGS")
    warnings["code"] = normalise(warnings["code"])
    findings.add("unknown-warning-type", "LA_PERSON_WARNINGS",
                 warnings[~warnings["code"].isin(list(rules.warning_labels)).fillna(False)])

    n = _rename(data["LA_POLICE_NOTIFICATIONS"], {
        "NOTIFICATION_ID": "id", "PERSON_ID": "person_id", "NOTIFICATION_DATE": "date"})
    dv = n.assign(id=ids(n["id"]), person_id=ids(n["person_id"]), date=dates(n["date"]))
    dv = dv[dv["date"].notna()].reset_index(drop=True)
    check_case_people(persons, {"DM_CIN_REFERRALS": referrals, "DM_REGISTRATIONS": cp_plans,
                                "DM_PERIODS_OF_CARE": care_periods}, findings)

    s = _rename(data["EDU_SCHOOLS"], {
        "SCHOOL_URN": "urn", "DFE_NUMBER": "dfe_number", "SCHOOL_NAME": "name",
        "PHASE": "phase", "IS_OPEN": "is_open"})
    schools = s.assign(urn=ids(s["urn"]), dfe_number=text(s["dfe_number"]), name=text(s["name"]),
                       phase=text(s["phase"]), is_open=flag(s["is_open"]))
    check_schools(schools, data["EDU_SCHOOLS"], findings)

    enrolments = dated(data["EDU_ENROLMENTS"], {
        "ENROLMENT_ID": "id", "EDU_PERSON_ID": "edu_person_id", "UPN": "upn",
        "SCHOOL_URN": "urn", "ENROLMENT_STATUS": "status"}, "EDU_ENROLMENTS",
        person=None)
    enrolments = enrolments.assign(upn=normalise(enrolments["upn"]), urn=ids(enrolments["urn"]),
                                   status=normalise(enrolments["status"]))
    findings.add("unknown-enrolment-status", "EDU_ENROLMENTS",
                 enrolments[~enrolments["status"].isin(rules.enrolment_statuses).fillna(False)],
                 person_id=None, upn="upn")

    return Staged(persons, references, addresses, referrals, cp_plans, care_periods, legal,
                  allocations, workers, phones, warnings, dv, schools, enrolments)
