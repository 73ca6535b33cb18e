"""The frames Great Expectations sees: never a name, an address, a birth date or a UPN.

The databook frame keeps every column the transform produced (so "only the schema's columns"
is really tested), masks the personal ones, and adds ``check_*`` columns derived here,
independently of the transform: whether each row's enrolment really is on that school's roll
on the as-at date, whether a withheld address goes with a non-disclosure caution, and so on.
Source frames are projected to the columns their expectations name.
"""

from __future__ import annotations

import pandas as pd

from extract import SourceData
from schemas import codes
from schemas.changes import BALANCE_COLUMNS
from transform import Databook, Rules
from transform.findings import BLOCKING
from transform.identity import normalise, upn_check_letter_valid, upn_well_formed

MASK = "*"
PERSONAL_TEXT = ("upn", "name", "principal_address")


def on_roll(rows: pd.DataFrame, data: SourceData, rules: Rules) -> pd.Series:
    """Is each row's enrolment at that school, with an on-roll status, current on the as-at
    date, at an open school? Read from the roll as extracted, not from the transform."""
    as_at = pd.Timestamp(rules.as_at)
    enrolments = data["EDU_ENROLMENTS"].set_index("ENROLMENT_ID")
    schools = data["EDU_SCHOOLS"]
    open_urns = set(schools.loc[schools["IS_OPEN"].astype("string").str.upper() == "Y",
                                "SCHOOL_URN"].astype(int))
    found = enrolments.reindex(rows["enrolment_id"].astype("Int64").to_numpy())
    entry = pd.to_datetime(found["ENTRY_DATE"]).dt.normalize()
    leaving = pd.to_datetime(found["LEAVING_DATE"]).dt.normalize()
    status = normalise(found["ENROLMENT_STATUS"])
    ok = ((pd.to_numeric(found["SCHOOL_URN"]).to_numpy() == rows["urn"].to_numpy())
          & status.isin(rules.on_roll_statuses).fillna(False).to_numpy()
          & (entry <= as_at).fillna(False).to_numpy()
          & (leaving.isna() | (leaving > as_at)).to_numpy()
          & rows["urn"].astype(int).isin(open_urns).to_numpy())
    return pd.Series(ok, index=rows.index, dtype=bool)


def databook_frame(book: Databook, data: SourceData, rules: Rules) -> pd.DataFrame:
    rows = book.rows
    as_at = pd.Timestamp(rules.as_at)
    frame = rows.copy()
    upn = rows["upn"].astype("string")
    letter_ok = upn_check_letter_valid(upn.where(upn_well_formed(upn)))
    address_type = rows["person_id"].map(book.context["principal_address_type"])
    frame["check_on_roll"] = on_roll(rows, data, rules)
    frame["check_address_withheld"] = rows["principal_address"].eq(rules.withheld_address).fillna(
        False).astype(bool)
    frame["check_not_disclosed"] = rows["cautions"].str.contains(
        rules.not_disclosed_label, regex=False).fillna(False).astype(bool)
    frame["check_age_years"] = (as_at - rows["date_of_birth"]).dt.days / 365.25
    frame["check_upn_letter_ok"] = letter_ok.astype("object").where(letter_ok.notna(), None)
    frame["check_cp_plan_years"] = (as_at - rows["cp_start_date"]).dt.days / 365.25
    frame["check_looked_after_at_home"] = ((rows["lac_current"] == codes.YES)
                                           & address_type.eq("MAIN").fillna(False)
                                           & ~frame["check_address_withheld"]).astype(bool)
    for column in PERSONAL_TEXT:
        frame[column] = rows[column].where(rows[column].isna(), MASK)
    frame["date_of_birth"] = pd.NaT
    return frame


def source_frame(data: SourceData, table: str, columns: list[str]) -> pd.DataFrame:
    return data[table].loc[:, columns]


def findings_frame(book: Databook) -> pd.DataFrame:
    """One row: how many findings of each blocking rule the transform made. Rule names and
    counts only, so Great Expectations sees no id, let alone a child's details."""
    counts = book.findings["rule"].value_counts()
    return pd.DataFrame({rule: [int(counts.get(rule, 0))] for rule in BLOCKING},
                        dtype="int64")


def balance_frame(lines: list[dict[str, int]]) -> pd.DataFrame:
    """The change-count check's frame: counts per school (``transform.row_changes.balance``),
    never a child's details; empty when no school has a previous databook."""
    return pd.DataFrame(lines, columns=list(BALANCE_COLUMNS)).astype("int64")
