"""Time logic shared by every rule, as the source contract defines it.

*Current on T*: start <= T and (no end, or end > T). *Ended by T*: end <= T. A row that ends
on the as-at date is therefore no longer current on that date.
"""

from __future__ import annotations

from datetime import date

import pandas as pd


def current_on(rows: pd.DataFrame, as_at: pd.Timestamp) -> pd.Series:
    return (rows["start"] <= as_at) & (rows["end"].isna() | (rows["end"] > as_at))


def ended_by(rows: pd.DataFrame, as_at: pd.Timestamp) -> pd.Series:
    return rows["end"].notna() & (rows["end"] <= as_at)


def started_by(rows: pd.DataFrame, as_at: pd.Timestamp) -> pd.Series:
    return rows["start"] <= as_at


def last_per(rows: pd.DataFrame, key: str, order: list[str]) -> pd.DataFrame:
    """The last row per ``key`` when sorted by ``order`` (later wins; callers end the order
    with the row id so that ties break the same way on every run)."""
    ordered = rows.sort_values([key, *order], kind="mergesort")
    return ordered.drop_duplicates(key, keep="last").set_index(key)


def timestamp(as_at: date | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(as_at).normalize()
