"""Assemble the published rows: one per child per school, in the schema's column order."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from extract import SourceData
from schemas import codes
from schemas.databook import FLAG_DATES, FLAG_KEYS, KEYS, ROUTING_KEYS
from transform import address, care, contact, need, protection, safety
from transform.errors import DataError
from transform.findings import Findings
from transform.matching import match, on_roll
from transform.periods import started_by, timestamp
from transform.rules_config import Rules
from transform.staging import Staged, stage


@dataclass(frozen=True)
class Databook:
    """The transform's result. ``rows`` holds ``ROUTING_KEYS`` then the schema's ``KEYS``;
    ``schools`` every open school (each gets a file, even with no rows)."""

    rows: pd.DataFrame
    schools: pd.DataFrame
    findings: pd.DataFrame
    as_at: pd.Timestamp
    #: Facts that are never published but that validation checks rows against, by person_id.
    context: pd.DataFrame

    def summary(self) -> dict[str, int]:
        """Counts only, safe to log and to compare between runs."""
        r = self.rows
        return {
            "schools": len(self.schools),
            "rows": len(r),
            "children": int(r["person_id"].nunique()),
            "cp_current": int((r["cp_current"] == codes.YES).sum()),
            "lac_current": int((r["lac_current"] == codes.YES).sum()),
            "cin_current": int((r["cin_current"] == codes.YES).sum()),
            "dv_notification": int((r["dv_notification"] == codes.YES).sum()),
            "cautions": int(r["cautions"].notna().sum()),
            "findings": len(self.findings),
        }

    def finding_counts(self) -> dict[str, int]:
        counts = self.findings["rule"].value_counts().sort_index()
        return {str(rule): int(n) for rule, n in counts.items()}


def case_people(staged: Staged, as_at: pd.Timestamp) -> pd.Index:
    """People with a social care record (open or closed) that had begun by the as-at date."""
    started = pd.concat([
        frame.loc[started_by(frame, as_at), "person_id"]
        for frame in (staged.referrals, staged.cp_plans, staged.care_periods)
    ])
    known = staged.persons["person_id"]
    return pd.Index(sorted(set(started) & set(known)), dtype="Int64", name="person_id")


def indicators(staged: Staged, people: pd.Index, rules: Rules) -> pd.DataFrame:
    """Every published column except the UPN, for each person in ``people``."""
    as_at = timestamp(rules.as_at)
    persons = staged.persons.set_index("person_id").reindex(people)
    restricted = persons["restricted"].fillna(False).astype(bool)

    cp_start = protection.current_cp_start(staged.cp_plans, as_at)
    previous = protection.previous_cp(staged.cp_plans, as_at)
    lac_start = care.looked_after_start(staged.care_periods, staged.legal_statuses, as_at,
                                        rules.respite_legal_statuses,
                                        rules.respite_counts_as_looked_after)
    referral = need.current_referral_date(staged.referrals, as_at)
    status = need.case_status(people, referral, cp_start, care.in_care(staged.care_periods, as_at))
    cin_from = need.child_in_need_from(referral, cp_start, lac_start)
    worker = contact.social_worker(
        people, status, contact.current_worker(staged.allocations, as_at),
        staged.workers.drop_duplicates("worker_id").set_index("worker_id")["name"],
        contact.publishable_number(staged.phones, rules.publishable_number_types),
        rules.starting_point_name, rules.starting_point_phone)
    withheld = address.address_withheld(restricted, staged.warnings, as_at,
                                         rules.address_withholding_warnings)
    dv_date = safety.latest_dv_notification(staged.dv_notifications, as_at,
                                            rules.dv_lookback_months)

    out = pd.DataFrame(index=people)
    out["name"] = safety.display_name(persons["first_name"], persons["last_name"])
    out["date_of_birth"] = persons["date_of_birth"]
    out["principal_address"] = address.principal_address(staged.addresses, as_at).reindex(
        people).where(~withheld, rules.withheld_address)
    out["case_status"] = status
    out["cp_start_date"] = cp_start.reindex(people)
    out["previous_cp_date"] = previous["start"].reindex(people)
    out["previous_cp_end_date"] = previous["end"].reindex(people)
    out["lac_start_date"] = lac_start.reindex(people)
    out["cin_start_date"] = cin_from.reindex(people)
    out = out.join(worker)
    out["cautions"] = safety.cautions(restricted, staged.warnings, as_at, rules.warning_labels,
                                      rules.not_disclosed_warning)
    out["dv_notification_date"] = dv_date.reindex(people)
    for flag_key, date_key in FLAG_DATES:
        out[flag_key] = out[date_key].notna().map({True: codes.YES, False: codes.NO})
    out["_sort_last"] = persons["last_name"].str.casefold()
    out["_sort_first"] = persons["first_name"].str.casefold()
    return out


def build_databook(data: SourceData, rules: Rules) -> Databook:
    findings = Findings()
    staged = stage(data, rules, findings)
    as_at = timestamp(rules.as_at)
    people = case_people(staged, as_at)
    if people.empty:
        raise DataError(f"no referral, child protection plan or period of care in the case "
                        f"database had started by the as-at date {as_at:%Y-%m-%d}")

    roll = on_roll(staged.enrolments, staged.schools, rules, findings)
    if roll.empty:
        raise DataError(f"no pupil is on the roll of an open school on the as-at date "
                        f"{as_at:%Y-%m-%d} (EDU_ENROLMENTS, EDU_SCHOOLS)")
    known = staged.persons[staged.persons["person_id"].isin(people)]
    placed = match(roll, known, staged.references, findings)
    if placed.empty:
        raise DataError("no pupil on the roll matches any case person by UPN or education "
                        "id (EDU_ENROLMENTS.UPN, EDU_PERSON_ID against DM_PERSONS and "
                        "DM_PERSON_REFERENCES): check the identifiers in both sources")

    table = indicators(staged, people, rules)
    age = (as_at - table["date_of_birth"]).dt.days / 365.25
    school_age = age.isna() | age.between(5, 17, inclusive="left")
    not_on_roll = table[(table["case_status"] == codes.OPEN) & school_age
                        & ~table.index.isin(placed["person_id"])]
    findings.add("open-case-not-on-roll", "DM_PERSONS",
                 not_on_roll.reset_index(), record_id="person_id")

    rows = placed.merge(table, left_on="person_id", right_index=True, how="inner")
    rows = rows.sort_values(["urn", "_sort_last", "_sort_first", "date_of_birth", "person_id"],
                            kind="mergesort", na_position="last")
    rows = rows.loc[:, [*ROUTING_KEYS, *KEYS]].reset_index(drop=True)
    for key in FLAG_KEYS:
        rows[key] = rows[key].astype("string")

    schools = staged.schools.loc[staged.schools["is_open"],
                                 ["urn", "dfe_number", "name", "phase"]]
    schools = schools.drop_duplicates("urn").sort_values("urn").reset_index(drop=True)
    context = pd.DataFrame({"principal_address_type": address.principal_rows(
        staged.addresses, as_at)["address_type"]}).reindex(people)
    return Databook(rows=rows, schools=schools, findings=findings.frame(), as_at=as_at,
                    context=context)
