"""Who is on which roll, and which pupil each case person is.

Matching uses identifiers only (UPN, former UPN, UPN references, the education system's id):
never names, birth dates or postcodes. Anything ambiguous is withheld and reported, because
a wrong match would show one child's record to another child's school.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from schemas import codes
from transform.findings import Findings
from transform.identity import among, upn_check_letter_valid, upn_well_formed
from transform.periods import current_on
from transform.rules_config import Rules


def on_roll(enrolments: pd.DataFrame, schools: pd.DataFrame, rules: Rules,
            findings: Findings) -> pd.DataFrame:
    """Enrolments current on the as-at date, with an on-roll status, at an open school."""
    as_at = pd.Timestamp(rules.as_at)
    live = enrolments[current_on(enrolments, as_at)
                      & enrolments["status"].isin(rules.on_roll_statuses).fillna(False)]
    open_urns = schools.loc[schools["is_open"], "urn"]
    unknown = live[~live["urn"].isin(open_urns)]
    findings.add("enrolment-at-unknown-school", "EDU_ENROLMENTS", unknown, person_id=None,
                 upn="upn")
    live = live[live["urn"].isin(open_urns)].copy()
    live["pupil"] = pupil_key(live)
    return live


def pupil_key(enrolments: pd.DataFrame) -> pd.Series:
    """A pupil is the education system's person id, or failing that the UPN (-1: neither).

    As a number, not text: the matching merges and groups a county's whole roll (a quarter of
    a million rows) by pupil, and merging on text cost most of the transform's time. Even
    numbers are education ids, odd ones stand for a UPN, so the two kinds never meet."""
    edu = enrolments["edu_person_id"]
    upn_number = pd.factorize(enrolments["upn"])[0].astype(np.int64) * 2 + 1
    key = np.where(edu.notna().to_numpy(dtype=bool),
                   edu.fillna(0).to_numpy(dtype=np.int64) * 2, upn_number)
    return pd.Series(key, index=enrolments.index, dtype=np.int64)


def person_identifiers(persons: pd.DataFrame, references: pd.DataFrame,
                       findings: Findings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each case person's well-formed UPNs and education ids, as (person_id, value) frames."""
    upns = pd.concat([
        persons[["person_id", "upn"]].rename(columns={"upn": "value"}).assign(
            table="DM_PERSONS", id=persons["person_id"]),
        persons[["person_id", "former_upn"]].rename(columns={"former_upn": "value"}).assign(
            table="DM_PERSONS", id=persons["person_id"]),
        references.loc[references["kind"] == codes.REFERENCE_UPN,
                       ["person_id", "value", "id"]].assign(table="DM_PERSON_REFERENCES"),
    ], ignore_index=True).dropna(subset=["value"])
    good = upn_well_formed(upns["value"])
    for table, bad in upns[~good].groupby("table"):
        findings.add("malformed-upn", str(table), bad, upn="value")
    upns = upns[good]
    wrong_letter = ~upn_check_letter_valid(upns["value"]).fillna(True).astype(bool)
    for table, bad in upns[wrong_letter].groupby("table"):
        findings.add("upn-check-letter", str(table), bad, upn="value")
    ems = references.loc[references["kind"] == codes.REFERENCE_EMS, ["person_id", "value"]]
    return (upns[["person_id", "value"]].drop_duplicates(),
            ems.dropna(subset=["value"]).drop_duplicates())


def match(roll: pd.DataFrame, persons: pd.DataFrame, references: pd.DataFrame,
          findings: Findings) -> pd.DataFrame:
    """(urn, person_id, upn, enrolment_id) for every enrolment on roll whose pupil is one case
    person."""
    upns, ems = person_identifiers(persons, references, findings)
    pupils = roll[["pupil", "upn", "edu_person_id", "id"]].drop_duplicates("pupil")
    good = upn_well_formed(pupils["upn"])
    findings.add("malformed-upn", "EDU_ENROLMENTS", pupils[~good & pupils["upn"].notna()],
                 person_id=None, upn="upn")
    wrong_letter = ~upn_check_letter_valid(pupils.loc[good, "upn"]).fillna(True).astype(bool)
    findings.add("upn-check-letter", "EDU_ENROLMENTS", pupils.loc[good][wrong_letter],
                 person_id=None, upn="upn")

    # Only the few pupils a case person could be take part in the merges.
    known = pupils[good & among(pupils["upn"], upns["value"])]
    by_upn = known.merge(upns, left_on="upn", right_on="value")[["pupil", "person_id"]]
    edu_ids = pupils.assign(value=pupils["edu_person_id"].astype("string"))
    edu_ids = edu_ids[among(edu_ids["value"], ems["value"])]
    by_ems = edu_ids.merge(ems, on="value")[["pupil", "person_id"]]
    pairs = pd.concat([by_upn, by_ems], ignore_index=True).drop_duplicates()

    people_per_pupil = pairs.groupby("pupil")["person_id"].nunique()
    pupils_per_person = pairs.groupby("person_id")["pupil"].nunique()
    two_people = pairs[pairs["pupil"].isin(people_per_pupil[people_per_pupil > 1].index)]
    two_pupils = pairs[pairs["person_id"].isin(pupils_per_person[pupils_per_person > 1].index)]
    _report(findings, "pupil-matches-two-people", two_people, pupils)
    _report(findings, "person-matches-two-pupils", two_pupils, pupils)

    clean = pairs[~pairs.index.isin(two_people.index) & ~pairs.index.isin(two_pupils.index)]
    placed = roll.merge(clean, on="pupil")[["urn", "person_id", "upn", "id"]]
    placed = placed.rename(columns={"id": "enrolment_id"})
    placed = placed.drop_duplicates(["urn", "person_id"]).reset_index(drop=True)
    on_two = placed[placed.duplicated("person_id", keep=False)]
    findings.add("on-two-rolls", "EDU_ENROLMENTS", on_two, record_id="enrolment_id", upn="upn")
    return placed


def _report(findings: Findings, rule: str, pairs: pd.DataFrame, pupils: pd.DataFrame) -> None:
    rows = pairs.merge(pupils[["pupil", "upn", "id"]], on="pupil")
    findings.add(rule, "EDU_ENROLMENTS", rows, upn="upn")
