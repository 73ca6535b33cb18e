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
}


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
        }))

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
