"""A second, straightforward reading of ``indicators.md``, straight from the SQLite demo files.

It shares no code with the product (no pandas, no ``transform``): plain SQL and one loop per
child, so that a mistake in the vectorised transform shows up as a difference here.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

HEADERS = [
    "UPN", "Name", "Date of birth", "Principal address", "Case status",
    "Child protection (current)", "CP start date", "Child protection (previous)",
    "Previous CP date", "Previous CP end date", "Looked after (current)", "Looked after from",
    "Child in need (current)", "Child in need from", "Social worker", "Social worker telephone",
    "Cautions", "Domestic violence notification", "DV notification date",
]
LABELS = {"NDISC": "Information not to be disclosed", "ADDR": "Address confidential",
          "VIOL": "Risk of violence", "THRT": "Threatening behaviour",
          "ANIM": "Animals at the property", "UNSAFE": "Unsafe premises"}
SP_NAME, SP_PHONE = "Starting Point", "01629 533190"
UPN_RE = re.compile(r"^[A-Z][0-9]{11}[0-9A-Z]$")


def d(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def norm(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip().upper()
    return text or None


def rows(db: Path, sql: str) -> list[sqlite3.Row]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def ok_period(start: date | None, end: date | None) -> bool:
    return start is not None and (end is None or end >= start)


def current(start: date | None, end: date | None, t: date) -> bool:
    return ok_period(start, end) and start <= t and (end is None or end > t)  # type: ignore[operator]


def months_before(t: date, months: int) -> date:
    y, m = divmod(t.year * 12 + t.month - 1 - months, 12)
    m += 1
    for day in range(t.day, 0, -1):
        try:
            return date(y, m, day)
        except ValueError:
            continue
    raise AssertionError


def expected(case_db: Path, roll_db: Path, t: date) -> dict[int, list[tuple[object, ...]]]:
    """For every open school: the rows its databook must hold, each a tuple in header order."""
    by_person: dict[str, dict[int, list[sqlite3.Row]]] = {}
    for table in ("DM_CIN_REFERRALS", "DM_REGISTRATIONS", "DM_PERIODS_OF_CARE",
                  "DM_LEGAL_STATUSES", "DM_ALLOCATED_WORKERS", "DM_ADDRESSES",
                  "LA_PERSON_WARNINGS", "LA_POLICE_NOTIFICATIONS", "DM_PERSON_REFERENCES"):
        grouped: dict[int, list[sqlite3.Row]] = defaultdict(list)
        for r in rows(case_db, f"SELECT * FROM {table}"):
            grouped[r["PERSON_ID"]].append(r)
        by_person[table] = grouped
    persons = {r["PERSON_ID"]: r for r in rows(case_db, "SELECT * FROM DM_PERSONS")}
    workers = {r["WORKER_ID"]: r["FULL_NAME"] for r in rows(case_db, "SELECT * FROM DM_WORKERS")}
    phones = defaultdict(list)
    for r in rows(case_db, "SELECT * FROM LA_WORKER_TELEPHONE_NUMBERS"):
        phones[r["WORKER_ID"]].append(r)

    def cp_plans(pid: int) -> list[tuple[Any, ...]]:
        return [(d(r["REGISTRATION_START_DATE"]), d(r["DEREGISTRATION_DATE"]),
                 r["REGISTRATION_ID"]) for r in by_person["DM_REGISTRATIONS"][pid]
                if r["IS_CHILD_PROTECTION_PLAN"] == "Y"
                and r["IS_TEMPORARY_CHILD_PROTECTION"] != "Y"
                and ok_period(d(r["REGISTRATION_START_DATE"]), d(r["DEREGISTRATION_DATE"]))]

    def has_record(pid: int) -> bool:
        starts = [d(r["REFERRAL_DATE"]) for r in by_person["DM_CIN_REFERRALS"][pid]
                  if ok_period(d(r["REFERRAL_DATE"]), d(r["CLOSURE_DATE"]))]
        starts += [d(r["REGISTRATION_START_DATE"]) for r in by_person["DM_REGISTRATIONS"][pid]
                   if r["IS_CHILD_PROTECTION_PLAN"] == "Y"
                   and ok_period(d(r["REGISTRATION_START_DATE"]), d(r["DEREGISTRATION_DATE"]))]
        starts += [d(r["START_DATE"]) for r in by_person["DM_PERIODS_OF_CARE"][pid]
                   if ok_period(d(r["START_DATE"]), d(r["END_DATE"]))]
        return any(s <= t for s in starts if s)

    eligible = [pid for pid in persons if has_record(pid)]

    # -- who is on which roll, and which pupil each person is ------------------------------
    schools = {r["SCHOOL_URN"]: r for r in rows(roll_db, "SELECT * FROM EDU_SCHOOLS")
               if r["IS_OPEN"] == "Y"}
    on_roll = [r for r in rows(roll_db, "SELECT * FROM EDU_ENROLMENTS")
               if r["ENROLMENT_STATUS"] in ("C", "M", "S") and r["SCHOOL_URN"] in schools
               and current(d(r["ENTRY_DATE"]), d(r["LEAVING_DATE"]), t)]
    person_upns = {pid: {u for u in (norm(persons[pid]["UPN_ID"]),
                                     norm(persons[pid]["FORMER_UPN_ID"]),
                                     *(norm(r["REFERENCE"]) for r in
                                       by_person["DM_PERSON_REFERENCES"][pid]
                                       if r["REFERENCE_TYPE"] == "UPN"))
                         if u and UPN_RE.match(u)} for pid in eligible}
    person_ems = {pid: {norm(r["REFERENCE"]) for r in by_person["DM_PERSON_REFERENCES"][pid]
                        if r["REFERENCE_TYPE"] == "EMS"} for pid in eligible}
    matches: dict[int, set[int]] = defaultdict(set)  # pupil -> persons
    for e in on_roll:
        upn = norm(e["UPN"])
        for pid in eligible:
            if (upn and UPN_RE.match(upn) and upn in person_upns[pid]) or (
                    str(e["EDU_PERSON_ID"]) in person_ems[pid]):
                matches[e["EDU_PERSON_ID"]].add(pid)
    pupils_of: dict[int, set[int]] = defaultdict(set)
    for pupil, pids in matches.items():
        for pid in pids:
            pupils_of[pid].add(pupil)

    out: dict[int, list[tuple[object, ...]]] = {urn: [] for urn in schools}
    seen = set()
    for e in on_roll:
        pids = matches.get(e["EDU_PERSON_ID"], set())
        if len(pids) != 1:
            continue
        pid = next(iter(pids))
        if len(pupils_of[pid]) != 1 or (e["SCHOOL_URN"], pid) in seen:
            continue
        seen.add((e["SCHOOL_URN"], pid))
        out[e["SCHOOL_URN"]].append(child_row(pid, norm(e["UPN"]), t, persons[pid], by_person,
                                              cp_plans(pid), workers, phones))
    return out


def child_row(pid, upn, t, person, by_person, plans, workers, phones):
    current_plans = [p for p in plans if current(p[0], p[1], t)]
    cp_start = max(current_plans, key=lambda p: (p[0], p[2]))[0] if current_plans else None
    ended = [p for p in plans if p[1] is not None and p[1] <= t]
    previous = max(ended, key=lambda p: (p[1], p[0], p[2])) if ended else None

    statuses = [r for r in by_person["DM_LEGAL_STATUSES"][pid]
                if current(d(r["START_DATE"]), d(r["END_DATE"]), t)]
    care_now, lac = [], []
    for r in by_person["DM_PERIODS_OF_CARE"][pid]:
        if not current(d(r["START_DATE"]), d(r["END_DATE"]), t):
            continue
        care_now.append(r)
        mine = [s for s in statuses if s["PERIOD_OF_CARE_ID"] == r["PERIOD_OF_CARE_ID"]]
        respite_only = bool(mine) and all(
            s["IS_RESPITE_CARE"] == "Y" or s["LEGAL_STATUS"] in ("V3", "V4") for s in mine)
        if not respite_only:
            lac.append((d(r["START_DATE"]), r["PERIOD_OF_CARE_ID"]))
    lac_start = max(lac)[0] if lac else None

    referrals = [(d(r["REFERRAL_DATE"]), r["REFERRAL_ID"])
                 for r in by_person["DM_CIN_REFERRALS"][pid]
                 if current(d(r["REFERRAL_DATE"]), d(r["CLOSURE_DATE"]), t)]
    is_open = bool(referrals or current_plans or care_now)
    cin_from = max(referrals)[0] if referrals and not cp_start and not lac_start else None

    warnings = [r["WARNING_TYPE"].strip().upper() for r in by_person["LA_PERSON_WARNINGS"][pid]
                if r["WARNING_TYPE"] and current(d(r["START_DATE"]), d(r["END_DATE"]), t)]
    restricted = (person["RESTRICTED"] or "").strip().upper() == "Y"
    codes = set(warnings) | ({"NDISC"} if restricted else set())
    cautions = "; ".join(LABELS[c] for c in LABELS if c in codes) or None

    if restricted or codes & {"NDISC", "ADDR"}:
        address = "Address withheld \N{EN DASH} contact Starting Point"
    else:
        live = [r for r in by_person["DM_ADDRESSES"][pid]
                if current(d(r["START_DATE"]), d(r["END_DATE"]), t)]
        address = None
        if live:
            best = max(live, key=lambda r: (r["IS_DISPLAY_ADDRESS"] == "Y",
                                            r["IS_CONTACT_ADDRESS"] == "Y", d(r["START_DATE"]),
                                            r["REF_ADDRESSES_PEOPLE_ID"]))
            line = re.sub(r"\s*[\r\n]+\s*", ", ", (best["ADDRESS"] or "").strip())
            code = (best["POST_CODE"] or "").strip()
            if code and code.replace(" ", "") not in line.upper().replace(" ", ""):
                line = f"{line}, {code}" if line else code
            address = line or None

    worker_name, worker_phone = SP_NAME, SP_PHONE
    if is_open:
        allocs = [r for r in by_person["DM_ALLOCATED_WORKERS"][pid]
                  if current(d(r["START_DATE"]), d(r["END_DATE"]), t)]
        if allocs:
            wid = max(allocs, key=lambda r: (d(r["START_DATE"]), r["ALLOCATION_ID"]))["WORKER_ID"]
            usable = [p for p in phones[wid] if p["NUMBER_TYPE"] in ("WORK", "MOBILE")
                      and (p["TELEPHONE_NUMBER"] or "").strip()]
            usable.sort(key=lambda p: (p["IS_PRIMARY"] != "Y",
                                       ("WORK", "MOBILE").index(p["NUMBER_TYPE"]),
                                       p["TELEPHONE_ID"]))
            name = (workers.get(wid) or "").strip()
            if usable and name:
                worker_name, worker_phone = name, usable[0]["TELEPHONE_NUMBER"].strip()

    since = months_before(t, 12)
    dv = [day for r in by_person["LA_POLICE_NOTIFICATIONS"][pid]
          if r["NOTIFICATION_TYPE"] == "DA" and (day := d(r["NOTIFICATION_DATE"])) is not None
          and since <= day <= t]
    dv_date = max(dv) if dv else None

    def yn(value: object) -> str:
        return "Y" if value else "N"

    name = " ".join(p.strip() for p in (person["FIRST_NAME"], person["LAST_NAME"])
                    if p and p.strip()) or None
    return (upn, name, d(person["DATE_OF_BIRTH"]), address, "Open" if is_open else "Closed",
            yn(cp_start), cp_start, yn(previous), previous[0] if previous else None,
            previous[1] if previous else None, yn(lac_start), lac_start, yn(cin_from), cin_from,
            worker_name, worker_phone, cautions, yn(dv_date), dv_date)
