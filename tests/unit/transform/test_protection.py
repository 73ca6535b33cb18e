from tests.support import FRAME_AS_AT as AS_AT
from tests.support import periods, ts
from transform.protection import current_cp_start, previous_cp


def plans(*rows: tuple[int, str, str | None, bool]):
    return periods([{"person_id": p, "start": s, "end": e, "temporary": t} for p, s, e, t in rows])


def test_a_plan_ending_on_the_as_at_date_is_previous_not_current() -> None:
    frame = plans((1, "2026-01-01", "2026-11-21", False))
    assert current_cp_start(frame, AS_AT).empty
    assert previous_cp(frame, AS_AT).loc[1, "end"] == ts("2026-11-21")


def test_a_plan_starting_on_the_as_at_date_is_current() -> None:
    assert current_cp_start(plans((1, "2026-11-21", None, False)), AS_AT)[1] == AS_AT


def test_a_plan_starting_after_the_as_at_date_counts_for_nothing() -> None:
    frame = plans((1, "2026-11-22", None, False))
    assert current_cp_start(frame, AS_AT).empty
    assert previous_cp(frame, AS_AT).empty


def test_temporary_registrations_count_neither_as_current_nor_previous() -> None:
    frame = plans((1, "2026-10-01", None, True), (1, "2025-01-01", "2025-06-01", True))
    assert current_cp_start(frame, AS_AT).empty
    assert previous_cp(frame, AS_AT).empty


def test_previous_is_the_ended_plan_with_the_latest_end_and_current_is_independent() -> None:
    frame = plans((1, "2020-01-01", "2024-05-01", False), (1, "2019-01-01", "2025-03-01", False),
                  (1, "2026-09-01", None, False))
    prev = previous_cp(frame, AS_AT)
    assert (prev.loc[1, "start"], prev.loc[1, "end"]) == (ts("2019-01-01"), ts("2025-03-01"))
    assert current_cp_start(frame, AS_AT)[1] == ts("2026-09-01")
