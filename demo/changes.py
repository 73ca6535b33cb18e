"""Things that happen to children between two runs, written into a demo council's databases:
a child goes onto a child protection plan, a child leaves the school, a child gets a new
social worker. Used by the Changes-sheet tests and the changed-only benchmark.

Each happens to a different child at a different school, chosen from the published rows so
that exactly those schools' databooks change. Ids only come back: no child's details.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
from sqlalchemy import and_, create_engine, insert, or_, select, update
from sqlalchemy.engine import Connection

from schemas import codes
from schemas.source import TABLES

KINDS = ("plan", "left", "new_worker")


@dataclass(frozen=True)
class Happening:
    kind: str
    urn: int
    person_id: int
    upn: str | None


def _once(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of children who are in exactly one school's databook."""
    return rows[~rows["person_id"].duplicated(keep=False)]


def choose(rows: pd.DataFrame, schools: int, starting_point: str = codes.STARTING_POINT_NAME
           ) -> list[Happening]:
    """``schools`` happenings, cycling through the kinds, each at its own school."""
    single = _once(rows)
    candidates = {
        "plan": single[(single["cin_current"] == codes.YES) & (single["cp_current"] == codes.NO)
                       & (single["lac_current"] == codes.NO)],
        "left": single,
        "new_worker": single[single["social_worker"] != starting_point],
    }
    used: set[int] = set()
    out: list[Happening] = []
    for i in range(schools):
        kind = KINDS[i % len(KINDS)]
        pool = candidates[kind][~candidates[kind]["urn"].isin(used)]
        if pool.empty:
            raise ValueError(f"no school left with a child for {kind!r}")
        pick = pool.iloc[0]
        used.add(int(pick["urn"]))
        upn = pick["upn"]
        out.append(Happening(kind, int(pick["urn"]), int(pick["person_id"]),
                             None if pd.isna(upn) else str(upn)))
    return out


def apply(case_url: str, roll_url: str, happenings: list[Happening], rows: pd.DataFrame,
          as_at: date) -> None:
    """Write the happenings into the source databases, effective on ``as_at``."""
    day = datetime.combine(as_at, datetime.min.time())
    case, roll = create_engine(case_url), create_engine(roll_url)
    try:
        with case.begin() as conn, roll.begin() as roll_conn:
            for h in happenings:
                if h.kind == "plan":
                    _plan(conn, h.person_id, day)
                elif h.kind == "left":
                    enrolment = rows.loc[(rows["person_id"] == h.person_id)
                                         & (rows["urn"] == h.urn), "enrolment_id"].iloc[0]
                    table = TABLES["EDU_ENROLMENTS"]
                    roll_conn.execute(update(table).where(
                        table.c["ENROLMENT_ID"] == int(enrolment)).values(LEAVING_DATE=day))
                else:
                    _new_worker(conn, h.person_id, day)
    finally:
        case.dispose()
        roll.dispose()


def _plan(conn: Connection, person_id: int, day: datetime) -> None:
    table = TABLES["DM_REGISTRATIONS"]
    next_id = (conn.execute(select(table.c.REGISTRATION_ID).order_by(
        table.c.REGISTRATION_ID.desc()).limit(1)).scalar() or 0) + 1
    conn.execute(insert(table).values(
        REGISTRATION_ID=next_id, PERSON_ID=person_id, REGISTRATION_START_DATE=day,
        DEREGISTRATION_DATE=None, IS_CHILD_PROTECTION_PLAN="Y",
        IS_TEMPORARY_CHILD_PROTECTION="N"))


def _new_worker(conn: Connection, person_id: int, day: datetime) -> None:
    """Every current allocation of the child moves to another worker who has a number."""
    allocations, workers = TABLES["DM_ALLOCATED_WORKERS"], TABLES["DM_WORKERS"]
    phones = TABLES["LA_WORKER_TELEPHONE_NUMBERS"]
    col = allocations.c
    current = and_(col["PERSON_ID"] == person_id, col["START_DATE"] <= day,
                   or_(col["END_DATE"].is_(None), col["END_DATE"] > day))
    names = {int(w): str(n) for w, n in conn.execute(select(workers.c.WORKER_ID,
                                                            workers.c.FULL_NAME))}
    old = {int(w) for (w,) in conn.execute(select(allocations.c.WORKER_ID).where(current))}
    old_names = {names.get(w) for w in old}
    with_phone = sorted({int(w) for (w,) in conn.execute(select(phones.c.WORKER_ID))})
    new = next(w for w in with_phone if w in names and names[w] not in old_names)
    conn.execute(update(allocations).where(current).values(WORKER_ID=new))
