"""Who a school should ring (columns 13 and 14).

The allocated worker and a publishable number when there is one; otherwise Starting Point, so
that every row gives the school somebody to call. Home numbers never reach this code: the
extract does not read them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from transform.periods import current_on, last_per


def current_worker(allocations: pd.DataFrame, as_at: pd.Timestamp) -> pd.Series:
    """The current allocation with the latest start date per person (ties: highest id)."""
    live = allocations[current_on(allocations, as_at)]
    return last_per(live, "person_id", ["start", "id"])["worker_id"]


def publishable_number(phones: pd.DataFrame, number_types: Sequence[str]) -> pd.Series:
    """Per worker: the primary number first, then by type preference, then the lowest id."""
    usable = phones[phones["kind"].isin(list(number_types)).fillna(False)
                    & phones["number"].notna()].copy()
    preference = {kind: rank for rank, kind in enumerate(number_types)}
    usable["type_rank"] = usable["kind"].map(preference)
    usable["not_primary"] = ~usable["primary"]
    ordered = usable.sort_values(["worker_id", "not_primary", "type_rank", "id"], kind="mergesort")
    return ordered.drop_duplicates("worker_id").set_index("worker_id")["number"]


def social_worker(people: pd.Index, is_open: pd.Series, worker: pd.Series,
                  worker_names: pd.Series, numbers: pd.Series, starting_point_name: str,
                  starting_point_phone: str) -> pd.DataFrame:
    """Worker name and number, or Starting Point and its number, per person."""
    worker_id = worker.reindex(people)
    name = worker_id.map(worker_names)
    number = worker_id.map(numbers)
    reachable = is_open.reindex(people).eq("Open") & name.notna() & number.notna()
    return pd.DataFrame({
        "social_worker": name.where(reachable, starting_point_name).astype("string"),
        "social_worker_phone": number.where(reachable, starting_point_phone).astype("string"),
    }, index=people)
