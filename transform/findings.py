"""Data-quality findings: rows a person must look at, identified by ids only.

A finding never carries a name, an address or free text, so the report that lists them can be
shared with a data-quality team without widening who sees case details.
"""

from __future__ import annotations

import pandas as pd

FINDING_COLUMNS = ("rule", "table", "record_id", "person_id", "upn")

#: Every finding rule, with the sentence the data-quality report shows for it.
RULES: dict[str, str] = {
    "missing-date-of-birth": "Person has no date of birth (published with the date blank).",
    "missing-start-date": "Row has no start date; it was left out.",
    "end-before-start": "Row ends before it starts; it was left out.",
    "unknown-warning-type": "Warning type is not in the configured list; not shown as a caution.",
    "unknown-legal-status": "Legal status code is not a known SSDA903 code.",
    "unknown-enrolment-status": "Enrolment status is not a census code; not counted as on roll.",
    "malformed-upn": "UPN is not 13 characters (a letter then 11 digits then a digit or "
                     "letter); not used for matching.",
    "upn-check-letter": "UPN check letter does not match its digits (used for matching).",
    "pupil-matches-two-people": "Pupil's identifiers match more than one case person; "
                                "not published.",
    "person-matches-two-pupils": "Case person's identifiers match more than one pupil; "
                                 "not published.",
    "enrolment-at-unknown-school": "Enrolment names a school that is not open in EDU_SCHOOLS.",
    "on-two-rolls": "Child is on the roll of two schools (dual registration) and appears in "
                    "both databooks.",
    "open-case-not-on-roll": "Open case of compulsory school age (or unknown age) with no "
                             "matching pupil on any school roll (possibly missing education).",
    # Bad input (README "Bad input"): ``table`` is TABLE.COLUMN where a column is at fault.
    "missing-key": "A key is empty or not a whole number where a child could be lost (a "
                   "primary key, or the person, pupil or school a row belongs to); publishing "
                   "is blocked.",
    "duplicate-key": "A primary key occurs on more than one row; publishing is blocked.",
    "case-of-unknown-person": "A referral, child protection plan or period of care names a "
                              "person missing from DM_PERSONS (or whose PERSON_ID is empty "
                              "there): the child would be lost, so publishing is blocked.",
    "deciding-date-not-a-date": "A date that decides whether a child is on roll, in need, on a "
                                "plan, looked after or has their address withheld is not a "
                                "date; publishing is blocked.",
    "missing-link": "A row's person, worker or period of care is empty or not a whole number; "
                    "it cannot be linked and was left out.",
    "not-a-date": "A date column holds something that is not a date; the row was left out "
                  "(a date of birth is published blank).",
    "negative-id": "An id is zero or negative (kept; check the extract).",
    "placeholder-date": "A date before 1901, usually a placeholder for 'unknown' (kept as "
                        "read; check it).",
    "text-too-long": "A text is longer than the source column allows (kept as read; check the "
                     "extract's view).",
    "date-of-birth-after-as-at": "Date of birth is after the as-at date (published as read).",
    "age-over-25": "Date of birth is more than 25 years before the as-at date (published as "
                   "read; over 100 years is almost certainly a placeholder).",
    "missing-name": "Person has neither a first nor a last name (empty or spaces only); "
                    "published with the name blank.",
    "school-without-urn": "An open school's URN is empty or not a whole number: it cannot be "
                          "published and its pupils would be lost, so publishing is blocked "
                          "(its DfE number is in the run log).",
    "school-without-dfe-number": "An open school has no DfE number (published with it blank).",
}

#: Findings that stop publishing: each can lose a child from the databooks, or show an
#: address that should be withheld. The ``findings`` suite makes them blocking expectations.
BLOCKING: tuple[str, ...] = ("missing-key", "duplicate-key", "case-of-unknown-person",
                             "deciding-date-not-a-date", "school-without-urn")
#: Findings the demo council does not produce (it must publish); tests/test_bad_input.py
#: damages copies of it to produce each one.
BAD_INPUT: tuple[str, ...] = tuple(RULES)[tuple(RULES).index("missing-key"):]


class Findings:
    """Collects findings as the transform goes; ``frame()`` gives them as one table."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def add(self, rule: str, table: str, rows: pd.DataFrame, *, record_id: str | None = "id",
            person_id: str | None = "person_id", upn: str | None = None) -> None:
        if rule not in RULES:
            raise ValueError(f"unknown finding rule {rule!r}")
        if rows.empty:
            return

        def col(name: str | None) -> object:
            return rows[name].to_numpy() if name else pd.NA

        self._parts.append(pd.DataFrame({
            "rule": rule, "table": table, "record_id": col(record_id),
            "person_id": col(person_id), "upn": col(upn),
        }, index=pd.RangeIndex(len(rows))))

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in FINDING_COLUMNS})
        out = pd.concat(self._parts, ignore_index=True)
        for c in ("record_id", "person_id"):
            out[c] = pd.to_numeric(out[c], errors="coerce").astype("Int64")
        out["upn"] = out["upn"].astype("string")
        return out.sort_values(["rule", "table", "person_id", "record_id"],
                               ignore_index=True)

    def counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.frame()["rule"].value_counts().sort_index().items()}
