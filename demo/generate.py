"""Write a synthetic council into two databases (any SQLAlchemy URL; SQLite by default)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import MetaData, create_engine, make_url

from demo.cases import WARNING_TYPES, Cases, scenarios
from demo.names import pools
from demo.roll import build_roll
from schemas.source import case_metadata, roll_metadata

# Of pupils: currently in need, on a plan, looked after, closed cases with history; and people
# known to social care who are on no roll here (pre-school, out of county, missing education).
RATES = {"cin": 0.03, "cp": 0.004, "lac": 0.007, "closed": 0.16}
NOT_ON_ROLL = 0.04


@dataclass(frozen=True)
class DemoSize:
    schools: int = 12
    pupils: int = 3000
    seed: int = 2015
    as_at: date | None = None


def _write(url: str, metadata: MetaData, tables: dict[str, list[dict[str, object]]]) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        path = Path(parsed.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
    engine = create_engine(parsed)
    try:
        with engine.begin() as conn:
            metadata.drop_all(conn)
            metadata.create_all(conn)
            for name, table in metadata.tables.items():
                rows = tables.get(name, [])
                for i in range(0, len(rows), 50_000):
                    conn.execute(table.insert(), rows[i:i + 50_000])
    finally:
        engine.dispose()


def generate(case_url: str, roll_url: str, size: DemoSize = DemoSize()) -> dict[str, int]:
    """Build the council and write it; returns row counts per table."""
    as_at = datetime.combine(size.as_at or date.today(), datetime.min.time())
    rng = random.Random(size.seed)
    names = pools(size.seed)
    roll = build_roll(rng, names, size.schools, size.pupils, as_at)

    cases = Cases(rng, names, as_at)
    known_rate = sum(RATES.values())
    cases.make_workers(max(8, int(size.pupils * (RATES["cin"] + RATES["cp"] + RATES["lac"]) / 12)))
    candidates = [p for p in roll.pupils if p.urn != roll.quiet_urn]
    rng.shuffle(candidates)
    planted = min(len(candidates) // 3, 80)
    scenarios(cases, candidates[:planted])
    rest = candidates[planted:]
    kinds = list(RATES)
    weights = [RATES[k] / known_rate for k in kinds]
    for pupil in rest[: int(size.pupils * known_rate)]:
        person = cases.person(pupil, identity=rng.choices(
            ["upn", "former", "reference", "ems", "upn+ems", "malformed"],
            [0.86, 0.04, 0.04, 0.03, 0.02, 0.01])[0], restricted=rng.random() < 0.01)
        _decorate(cases, person, rng.choices(kinds, weights)[0], rng)
    for _ in range(int(size.pupils * NOT_ON_ROLL)):
        person = cases.person(None, age=rng.choice([(0, 4), (5, 16)]))
        _decorate(cases, person, rng.choices(kinds, weights)[0], rng)
    for _ in range(int(size.pupils * 0.02)):  # parents: on Mosaic, but with no case of their own
        cases.person(None, age=(20, 50))

    _write(case_url, case_metadata, cases.tables)
    _write(roll_url, roll_metadata, {"EDU_SCHOOLS": roll.schools,
                                     "EDU_ENROLMENTS": roll.enrolments})
    counts = {name: len(rows) for name, rows in cases.tables.items()}
    counts |= {"EDU_SCHOOLS": len(roll.schools), "EDU_ENROLMENTS": len(roll.enrolments)}
    return dict(sorted(counts.items()))


def _decorate(cases: Cases, person: int, kind: str, rng: random.Random) -> None:
    cases.profile(person, kind)
    if rng.random() < 0.05:
        cases.warning(person, rng.choice(WARNING_TYPES))
    if rng.random() < 0.06:
        cases.notification(person, cases.ago(1, 1000), rng.choice(["DA", "DA", "DA", "MISS"]))

