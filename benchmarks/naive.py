"""The analyst's script the product replaces, as a yardstick: pandas ``read_sql``, the
indicators in pandas, ``DataFrame.to_excel`` per school, msoffcrypto-tool ``encrypt`` per file.

Written as a careful analyst would (the same tables, the same main rules, one file per open
school), not as a straw man; it skips the product's checks (matching ambiguity, data-quality
findings, validation, signing). Synthetic data only.

    python benchmarks/naive.py CASE_URL ROLL_URL OUT_DIR YYYY-MM-DD
"""

from __future__ import annotations

import io
import sys
from datetime import date
from pathlib import Path

import pandas as pd
from msoffcrypto.format.ooxml import OOXMLFile
from sqlalchemy import create_engine

from publish.passwords import new_password

CASE = {
    "DM_PERSONS": ["PERSON_ID", "FIRST_NAME", "LAST_NAME", "DATE_OF_BIRTH", "RESTRICTED",
                   "UPN_ID", "FORMER_UPN_ID"],
    "DM_PERSON_REFERENCES": ["PERSON_ID", "REFERENCE_TYPE", "REFERENCE"],
    "DM_ADDRESSES": ["REF_ADDRESSES_PEOPLE_ID", "PERSON_ID", "START_DATE", "END_DATE",
                     "ADDRESS", "IS_CONTACT_ADDRESS", "IS_DISPLAY_ADDRESS"],
    "DM_CIN_REFERRALS": ["PERSON_ID", "REFERRAL_DATE", "CLOSURE_DATE"],
    "DM_REGISTRATIONS": ["PERSON_ID", "REGISTRATION_START_DATE", "DEREGISTRATION_DATE",
                         "IS_CHILD_PROTECTION_PLAN", "IS_TEMPORARY_CHILD_PROTECTION"],
    "DM_PERIODS_OF_CARE": ["PERIOD_OF_CARE_ID", "PERSON_ID", "START_DATE", "END_DATE"],
    "DM_LEGAL_STATUSES": ["PERIOD_OF_CARE_ID", "START_DATE", "END_DATE", "IS_RESPITE_CARE"],
    "DM_ALLOCATED_WORKERS": ["ALLOCATION_ID", "PERSON_ID", "WORKER_ID", "START_DATE",
                             "END_DATE"],
    "DM_WORKERS": ["WORKER_ID", "FULL_NAME"],
    "LA_WORKER_TELEPHONE_NUMBERS": ["WORKER_ID", "TELEPHONE_NUMBER", "NUMBER_TYPE",
                                    "IS_PRIMARY"],
    "LA_PERSON_WARNINGS": ["PERSON_ID", "WARNING_TYPE", "START_DATE", "END_DATE"],
    "LA_POLICE_NOTIFICATIONS": ["PERSON_ID", "NOTIFICATION_DATE", "NOTIFICATION_TYPE"],
}
ROLL = {
    "EDU_SCHOOLS": ["SCHOOL_URN", "DFE_NUMBER", "SCHOOL_NAME", "IS_OPEN"],
    "EDU_ENROLMENTS": ["EDU_PERSON_ID", "UPN", "SCHOOL_URN", "ENTRY_DATE", "LEAVING_DATE",
                       "ENROLMENT_STATUS"],
}
LABELS = {"NDISC": "Information not to be disclosed", "ADDR": "Address confidential",
          "VIOL": "Risk of violence", "THRT": "Threatening behaviour",
          "ANIM": "Animals at the property", "UNSAFE": "Unsafe premises"}
STARTING_POINT, PHONE = "Starting Point", "01629 533190"


def read(url: str, tables: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
    engine = create_engine(url)
    with engine.connect() as conn:
        return {t: pd.read_sql_table(t, conn, columns=cols) for t, cols in tables.items()}


def current(frame: pd.DataFrame, start: str, end: str, on: pd.Timestamp) -> pd.DataFrame:
    s, e = pd.to_datetime(frame[start]), pd.to_datetime(frame[end])
    return frame[(s <= on) & (e.isna() | (e > on))]


def indicators(case: dict[str, pd.DataFrame], roll: dict[str, pd.DataFrame],
               as_at: date) -> pd.DataFrame:
    on = pd.Timestamp(as_at)
    enrol = current(roll["EDU_ENROLMENTS"], "ENTRY_DATE", "LEAVING_DATE", on)
    enrol = enrol[enrol["ENROLMENT_STATUS"].isin(["C", "M", "S"])].copy()
    enrol["UPN"] = enrol["UPN"].str.strip().str.upper()
    people = case["DM_PERSONS"]
    refs = case["DM_PERSON_REFERENCES"]
    keys = pd.concat([
        people[["PERSON_ID", "UPN_ID"]].rename(columns={"UPN_ID": "KEY"}),
        people[["PERSON_ID", "FORMER_UPN_ID"]].rename(columns={"FORMER_UPN_ID": "KEY"}),
        refs[refs["REFERENCE_TYPE"] == "UPN"][["PERSON_ID", "REFERENCE"]].rename(
            columns={"REFERENCE": "KEY"})]).dropna()
    keys["KEY"] = keys["KEY"].astype(str).str.strip().str.upper()
    by_upn = enrol.merge(keys, left_on="UPN", right_on="KEY")
    ems = refs[refs["REFERENCE_TYPE"] == "EMS"].copy()
    ems["EDU_PERSON_ID"] = pd.to_numeric(ems["REFERENCE"], errors="coerce")
    by_ems = enrol.merge(ems[["PERSON_ID", "EDU_PERSON_ID"]], on="EDU_PERSON_ID")
    pupils = pd.concat([by_upn, by_ems])[["PERSON_ID", "SCHOOL_URN", "UPN"]]
    pupils = pupils.drop_duplicates(["PERSON_ID", "SCHOOL_URN"])
    pupils = pupils.merge(people, on="PERSON_ID")

    ref = case["DM_CIN_REFERRALS"]
    reg = case["DM_REGISTRATIONS"]
    reg = reg[(reg["IS_CHILD_PROTECTION_PLAN"] == "Y")
              & (reg["IS_TEMPORARY_CHILD_PROTECTION"] != "Y")]
    care = case["DM_PERIODS_OF_CARE"]
    legal = current(case["DM_LEGAL_STATUSES"], "START_DATE", "END_DATE", on)
    respite_only = legal.groupby("PERIOD_OF_CARE_ID")["IS_RESPITE_CARE"].apply(
        lambda s: (s == "Y").all())
    known = set(ref["PERSON_ID"]) | set(reg["PERSON_ID"]) | set(care["PERSON_ID"])
    pupils = pupils[pupils["PERSON_ID"].isin(known)].copy()

    cin = current(ref, "REFERRAL_DATE", "CLOSURE_DATE", on).groupby("PERSON_ID")[
        "REFERRAL_DATE"].max()
    cp = current(reg, "REGISTRATION_START_DATE", "DEREGISTRATION_DATE", on).groupby(
        "PERSON_ID")["REGISTRATION_START_DATE"].max()
    ended = reg[pd.to_datetime(reg["DEREGISTRATION_DATE"]) <= on].sort_values(
        "DEREGISTRATION_DATE").groupby("PERSON_ID").last()
    in_care = current(care, "START_DATE", "END_DATE", on)
    lac_all = in_care.groupby("PERSON_ID")["START_DATE"].max()
    lac = in_care[~in_care["PERIOD_OF_CARE_ID"].map(respite_only).fillna(False).astype(bool)
                  ].groupby("PERSON_ID")["START_DATE"].max()
    pid = pupils["PERSON_ID"]
    pupils["cp_start_date"] = pid.map(cp)
    pupils["cp_current"] = pupils["cp_start_date"].notna().map({True: "Y", False: "N"})
    pupils["previous_cp_date"] = pid.map(ended["REGISTRATION_START_DATE"])
    pupils["previous_cp_end_date"] = pid.map(ended["DEREGISTRATION_DATE"])
    pupils["cp_previous"] = pupils["previous_cp_date"].notna().map({True: "Y", False: "N"})
    pupils["lac_start_date"] = pid.map(lac)
    pupils["lac_current"] = pupils["lac_start_date"].notna().map({True: "Y", False: "N"})
    is_cin = pid.map(cin).notna() & pupils["cp_start_date"].isna() & pupils[
        "lac_start_date"].isna()
    pupils["cin_start_date"] = pid.map(cin).where(is_cin)
    pupils["cin_current"] = is_cin.map({True: "Y", False: "N"})
    open_case = pid.map(cin).notna() | pupils["cp_start_date"].notna() | pid.map(
        lac_all).notna()
    pupils["case_status"] = open_case.map({True: "Open", False: "Closed"})

    addr = current(case["DM_ADDRESSES"], "START_DATE", "END_DATE", on).sort_values(
        ["IS_DISPLAY_ADDRESS", "IS_CONTACT_ADDRESS", "START_DATE", "REF_ADDRESSES_PEOPLE_ID"],
        ascending=False).groupby("PERSON_ID")["ADDRESS"].first()
    warn = current(case["LA_PERSON_WARNINGS"], "START_DATE", "END_DATE", on)
    cautions = warn.groupby("PERSON_ID")["WARNING_TYPE"].apply(
        lambda s: "; ".join(LABELS.get(w, w) for w in sorted(set(s))))
    withhold = set(warn[warn["WARNING_TYPE"].isin(["NDISC", "ADDR"])]["PERSON_ID"])
    pupils["principal_address"] = pid.map(addr)
    hidden = pid.isin(withhold) | (pupils["RESTRICTED"] == "Y")
    pupils.loc[hidden, "principal_address"] = "Address withheld - contact Starting Point"
    pupils["cautions"] = pid.map(cautions)

    alloc = current(case["DM_ALLOCATED_WORKERS"], "START_DATE", "END_DATE", on).sort_values(
        ["START_DATE", "ALLOCATION_ID"]).groupby("PERSON_ID")["WORKER_ID"].last()
    numbers = case["LA_WORKER_TELEPHONE_NUMBERS"]
    phones = numbers[numbers["NUMBER_TYPE"].isin(["WORK", "MOBILE"])].sort_values(
        ["IS_PRIMARY", "NUMBER_TYPE"], ascending=[False, False]).groupby("WORKER_ID")[
        "TELEPHONE_NUMBER"].first()
    names = case["DM_WORKERS"].set_index("WORKER_ID")["FULL_NAME"]
    worker = pid.map(alloc)
    phone = worker.map(phones)
    reachable = open_case & phone.notna()
    pupils["social_worker"] = worker.map(names).where(reachable, STARTING_POINT)
    pupils["social_worker_phone"] = phone.where(reachable, PHONE)

    dv = case["LA_POLICE_NOTIFICATIONS"]
    dv_dates = pd.to_datetime(dv["NOTIFICATION_DATE"])
    dv = dv[(dv["NOTIFICATION_TYPE"] == "DA") & (dv_dates <= on)
            & (dv_dates > on - pd.DateOffset(months=12))]
    last_dv = dv.groupby("PERSON_ID")["NOTIFICATION_DATE"].max()
    pupils["dv_notification_date"] = pid.map(last_dv)
    pupils["dv_notification"] = pupils["dv_notification_date"].notna().map(
        {True: "Y", False: "N"})
    pupils["name"] = pupils["FIRST_NAME"].fillna("") + " " + pupils["LAST_NAME"].fillna("")
    return pupils


COLUMNS = ["UPN", "name", "DATE_OF_BIRTH", "principal_address", "case_status", "cp_current",
           "cp_start_date", "cp_previous", "previous_cp_date", "previous_cp_end_date",
           "lac_current", "lac_start_date", "cin_current", "cin_start_date", "social_worker",
           "social_worker_phone", "cautions", "dv_notification", "dv_notification_date"]


def main(case_url: str, roll_url: str, out: Path, as_at: date) -> int:
    case, roll = read(case_url, CASE), read(roll_url, ROLL)
    book = indicators(case, roll, as_at)
    schools = roll["EDU_SCHOOLS"]
    schools = schools[schools["IS_OPEN"] == "Y"]
    out.mkdir(parents=True, exist_ok=True)
    for urn in schools["SCHOOL_URN"]:
        rows = book[book["SCHOOL_URN"] == urn][COLUMNS]
        plain = io.BytesIO()
        rows.to_excel(plain, sheet_name="Databook", index=False)
        encrypted = io.BytesIO()
        OOXMLFile(io.BytesIO(plain.getvalue())).encrypt(new_password(), encrypted)
        (out / f"{urn}.xlsx").write_bytes(encrypted.getvalue())
    return len(schools)


if __name__ == "__main__":
    count = main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), date.fromisoformat(sys.argv[4]))
    print(f"naive: {count} files")
