"""The synthetic school roll: open and closed schools, pupils and their registrations."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from demo.names import Pools, pick
from transform.identity import upn_check_letter

LA_CODE = 830
ROLL_TABLE = "EDU_ENROLMENTS"


def make_upn(serial: int, la: int = LA_CODE) -> str:
    body = f"{la:03d}{serial:09d}"
    return upn_check_letter(body) + body


@dataclass
class Pupil:
    edu_person_id: int
    upn: str
    urn: int  # the school the pupil is mainly on roll at


@dataclass
class Roll:
    schools: list[dict[str, object]]
    enrolments: list[dict[str, object]]
    pupils: list[Pupil]
    open_urns: list[int]
    quiet_urn: int  # an open school none of whose pupils is known to social care
    closed_urn: int


def build_roll(rng: random.Random, names: Pools, n_schools: int, n_pupils: int,
               as_at: datetime) -> Roll:
    n_schools = max(n_schools, 4)
    schools: list[dict[str, object]] = []
    for i in range(n_schools):
        phase = ("Secondary" if i % 7 == 1 else "Special" if i % 23 == 5
                 else "Nursery" if i % 31 == 9 else "Primary")
        urn = 112000 + i * 17
        number = (4000 if phase == "Secondary" else 7000 if phase == "Special" else 2000) + i
        kind = {"Secondary": "Academy", "Special": "Special School",
                "Nursery": "Nursery School"}.get(phase, "Primary School")
        schools.append({
            "SCHOOL_URN": urn, "DFE_NUMBER": f"{LA_CODE}/{number:04d}",
            "SCHOOL_NAME": f"{pick(rng, names.towns)} {kind}", "PHASE": phase,
            "IS_OPEN": "Y",
        })
    schools[-1]["IS_OPEN"] = "N"
    schools[-1]["SCHOOL_NAME"] = f"{schools[-1]['SCHOOL_NAME']} (closed)"
    urns = [int(str(s["SCHOOL_URN"])) for s in schools]
    closed_urn, quiet_urn = urns[-1], urns[-2]
    busy = urns[:-2]
    weights = [6 if s["PHASE"] == "Secondary" else 1 for s in schools[:-2]]

    enrolments: list[dict[str, object]] = []
    pupils: list[Pupil] = []

    def enrol(p: Pupil, urn: int, entry: datetime, leaving: datetime | None,
              status: str) -> None:
        enrolments.append({
            "ENROLMENT_ID": 900000 + len(enrolments), "EDU_PERSON_ID": p.edu_person_id,
            "UPN": p.upn, "SCHOOL_URN": urn, "ENTRY_DATE": entry, "LEAVING_DATE": leaving,
            "ENROLMENT_STATUS": status,
        })

    def days(n: int) -> datetime:
        return as_at - timedelta(days=n)

    serials = rng.sample(range(10_000_000, 99_999_999), n_pupils)
    for i in range(n_pupils):
        urn = quiet_urn if i < 5 else rng.choices(busy, weights)[0]
        p = Pupil(edu_person_id=7_000_000 + i, upn=make_upn(serials[i]), urn=urn)
        pupils.append(p)
        if i < 5:
            enrol(p, urn, days(rng.randint(30, 900)), None, "C")
            continue
        roll_kind = rng.random()
        others = [u for u in busy if u != urn]
        if roll_kind < 0.01:  # dual registration
            enrol(p, urn, days(rng.randint(30, 900)), None, "M")
            enrol(p, rng.choice(others), days(rng.randint(5, 200)), None, "S")
        elif roll_kind < 0.015:  # a guest elsewhere
            enrol(p, urn, days(rng.randint(30, 900)), None, "C")
            enrol(p, rng.choice(others), days(rng.randint(5, 60)), None, "G")
        elif roll_kind < 0.035:  # a leaver: moved from another school
            moved = days(rng.randint(1, 300))
            enrol(p, rng.choice(others), moved - timedelta(days=rng.randint(200, 900)), moved,
                  "C")
            enrol(p, urn, moved, None, "C")
        elif roll_kind < 0.04:  # a joiner who starts after the as-at date
            start = as_at + timedelta(days=rng.randint(1, 40))
            enrol(p, rng.choice(others), days(rng.randint(200, 900)), start, "C")
            enrol(p, urn, start, None, "C")
        elif roll_kind < 0.042:  # left on the as-at date itself, joined elsewhere that day
            enrol(p, rng.choice(others), days(rng.randint(200, 900)), as_at, "C")
            enrol(p, urn, as_at, None, "C")
        elif roll_kind < 0.044:  # further education registration: not on roll
            enrol(p, urn, days(rng.randint(30, 400)), None, "F")
        else:
            enrol(p, urn, days(rng.randint(30, 2000)), None, "C")
    # Odd rows the data-quality report must list.
    if n_pupils > 10:
        enrol(pupils[6], busy[0], days(100), None, "X")
        enrol(pupils[7], closed_urn, days(300), None, "C")
    return Roll(schools, enrolments, pupils, [*busy, quiet_urn], quiet_urn, closed_urn)
