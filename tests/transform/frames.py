"""Tiny staged frames for rule tests: dates as ISO strings, everything else as given."""

from __future__ import annotations

from typing import Any

import pandas as pd

AS_AT = pd.Timestamp("2026-11-21")


def ts(value: str | None) -> Any:
    return pd.Timestamp(value) if value else pd.NaT


def periods(rows: list[dict[str, object]], columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Rows with person_id, start, end (ISO dates) and any extra columns; ids are numbered.
    ``columns`` names the columns of an empty frame."""
    frame = pd.DataFrame([{"id": i + 1, **row} for i, row in enumerate(rows)],
                         columns=None if rows else ["id", *columns])
    for col in ("start", "end", "date"):
        if col in frame:
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[us]")
    for col in ("id", "person_id", "worker_id", "period_id"):
        if col in frame:
            frame[col] = frame[col].astype("Int64")
    return frame
