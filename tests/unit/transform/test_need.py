import pandas as pd

from tests.support import FRAME_AS_AT as AS_AT
from tests.support import periods, ts
from transform.need import case_status, child_in_need_from, current_referral_date


def referrals(*rows: tuple[int, str, str | None]):
    return periods([{"person_id": p, "start": s, "end": e} for p, s, e in rows])


def dates(**by_person: str) -> pd.Series:
    return pd.Series({int(k[1:]): ts(v) for k, v in by_person.items()}, dtype="datetime64[us]")


def test_the_latest_current_referral_gives_the_date() -> None:
    frame = referrals((1, "2025-01-01", None), (1, "2026-10-01", None),
                      (2, "2026-01-01", "2026-11-21"))
    out = current_referral_date(frame, AS_AT)
    assert out.to_dict() == {1: ts("2026-10-01")}


def test_case_status_is_open_with_any_current_referral_plan_or_care() -> None:
    people = pd.Index([1, 2, 3, 4])
    status = case_status(people, dates(p1="2026-01-01"), dates(p2="2026-01-01"), pd.Index([3]))
    assert status.tolist() == ["Open", "Open", "Open", "Closed"]


def test_child_in_need_only_when_neither_on_a_plan_nor_looked_after() -> None:
    referral = dates(p1="2026-01-01", p2="2026-02-01", p3="2026-03-01")
    out = child_in_need_from(referral, cp_start=dates(p2="2026-05-01"),
                             looked_after_start=dates(p3="2026-05-01"))
    assert out.to_dict() == {1: ts("2026-01-01")}
