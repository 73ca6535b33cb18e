from tests.support import FRAME_AS_AT as AS_AT
from tests.support import periods, ts
from transform.care import in_care, looked_after_start

RESPITE = frozenset({"V3", "V4"})


def care(*rows: tuple[int, str, str | None]):
    return periods([{"person_id": p, "start": s, "end": e} for p, s, e in rows])


def statuses(*rows: tuple[int, str, bool, str, str | None]):
    return periods([{"person_id": 1, "period_id": pid, "code": c, "respite": r, "start": s,
                     "end": e} for pid, c, r, s, e in rows],
                   ("person_id", "period_id", "code", "respite", "start", "end"))


def test_respite_only_care_keeps_the_case_open_but_is_not_looked_after() -> None:
    periods_ = care((1, "2026-06-01", None))
    legal = statuses((1, "V3", True, "2026-06-01", None))
    assert looked_after_start(periods_, legal, AS_AT, RESPITE).empty
    assert list(in_care(periods_, AS_AT)) == [1]


def test_respite_codes_count_even_when_the_flag_is_missing() -> None:
    legal = statuses((1, "V4", False, "2026-06-01", None))
    assert looked_after_start(care((1, "2026-06-01", None)), legal, AS_AT, RESPITE).empty


def test_a_current_non_respite_status_makes_the_child_looked_after() -> None:
    legal = statuses((1, "V3", True, "2026-06-01", None), (1, "C2", False, "2026-07-01", None))
    out = looked_after_start(care((1, "2026-06-01", None)), legal, AS_AT, RESPITE)
    assert out[1] == ts("2026-06-01")


def test_only_current_statuses_decide_respite() -> None:
    legal = statuses((1, "C2", False, "2026-01-01", "2026-05-01"),
                     (1, "V3", True, "2026-05-01", None))
    assert looked_after_start(care((1, "2026-01-01", None)), legal, AS_AT, RESPITE).empty


def test_a_period_with_no_legal_status_still_counts() -> None:
    out = looked_after_start(care((1, "2026-06-01", None)), statuses(), AS_AT, RESPITE)
    assert out[1] == ts("2026-06-01")


def test_configuration_can_count_respite_as_looked_after() -> None:
    legal = statuses((1, "V3", True, "2026-06-01", None))
    out = looked_after_start(care((1, "2026-06-01", None)), legal, AS_AT, RESPITE,
                             respite_counts=True)
    assert out[1] == ts("2026-06-01")


def test_ended_care_is_not_current() -> None:
    assert looked_after_start(care((1, "2025-01-01", "2026-11-21")), statuses(), AS_AT,
                              RESPITE).empty
