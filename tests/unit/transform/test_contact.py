import pandas as pd

from tests.support import FRAME_AS_AT as AS_AT
from tests.support import periods
from transform.contact import current_worker, publishable_number, social_worker

TYPES = ("WORK", "MOBILE")


def phones(*rows: tuple[int, str, str, bool]):
    return periods([{"worker_id": w, "number": n, "kind": k, "primary": p} for w, n, k, p in rows],
                   ("worker_id", "number", "kind", "primary"))


def test_the_current_allocation_with_the_latest_start_wins() -> None:
    frame = periods([{"person_id": 1, "worker_id": 10, "start": "2026-01-01", "end": None},
                     {"person_id": 1, "worker_id": 11, "start": "2026-06-01", "end": None},
                     {"person_id": 1, "worker_id": 12, "start": "2026-09-01", "end": "2026-11-21"}])
    assert current_worker(frame, AS_AT).to_dict() == {1: 11}


def test_primary_number_first_then_work_then_mobile_and_never_home() -> None:
    frame = phones((1, "07700 900001", "MOBILE", False), (1, "01629 500001", "WORK", False),
                   (2, "07700 900002", "MOBILE", True), (2, "01629 500002", "WORK", False),
                   (3, "01773 800003", "HOME", True))
    assert publishable_number(frame, TYPES).to_dict() == {1: "01629 500001", 2: "07700 900002"}


def contact(status: str, worker: int | None, numbers: dict[int, str]) -> tuple[str, str]:
    people = pd.Index([1])
    out = social_worker(people, pd.Series([status], index=people),
                        pd.Series({} if worker is None else {1: worker}, dtype="Int64"),
                        pd.Series({7: "Ann Worker", 8: "Bob Homeonly"}), pd.Series(numbers),
                        "Starting Point", "01629 533190")
    return str(out.loc[1, "social_worker"]), str(out.loc[1, "social_worker_phone"])


def test_an_open_case_with_a_reachable_worker_names_them() -> None:
    assert contact("Open", 7, {7: "01629 500007"}) == ("Ann Worker", "01629 500007")


def test_starting_point_when_closed_unallocated_or_unreachable() -> None:
    starting_point = ("Starting Point", "01629 533190")
    assert contact("Closed", 7, {7: "01629 500007"}) == starting_point
    assert contact("Open", None, {7: "01629 500007"}) == starting_point
    assert contact("Open", 8, {7: "01629 500007"}) == starting_point  # no publishable number
