"""Cautions (column 15) and domestic abuse notifications (columns 16 and 17)."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from transform.periods import current_on


def cautions(restricted: pd.Series, warnings: pd.DataFrame, as_at: pd.Timestamp,
             labels: Mapping[str, str], not_disclosed_code: str) -> pd.Series:
    """Current warning labels joined by "; " in the configured order; a restricted record adds
    the "not to be disclosed" label. Unknown codes are left out (they are findings)."""
    live = warnings[current_on(warnings, as_at)][["person_id", "code"]]
    extra = pd.DataFrame({"person_id": restricted.index[restricted.to_numpy()],
                          "code": not_disclosed_code})
    both = pd.concat([live, extra], ignore_index=True)
    order = {code: rank for rank, code in enumerate(labels)}
    both = both[both["code"].isin(list(order))].drop_duplicates()
    both = both.assign(rank=both["code"].map(order)).sort_values(["person_id", "rank"])
    # Joined in one pass over plain lists: a groupby with a Python join per person took
    # a third of a second for a county.
    joined: dict[int, str] = {}
    for person, label in zip(both["person_id"].tolist(), both["code"].map(dict(labels)).tolist(),
                             strict=True):
        joined[person] = f"{joined[person]}; {label}" if person in joined else label
    return pd.Series(list(joined.values()), index=pd.Index(list(joined), dtype="Int64"),
                     dtype="string").reindex(restricted.index)


def latest_dv_notification(notifications: pd.DataFrame, as_at: pd.Timestamp,
                           months: int) -> pd.Series:
    """Date of the latest notification in the look-back window, per person.

    The window is inclusive at both ends: from the same day ``months`` months before the
    as-at date up to and including the as-at date. Later-dated rows are not yet known.
    """
    since = as_at - pd.DateOffset(months=months)
    inside = notifications[(notifications["date"] >= since) & (notifications["date"] <= as_at)]
    return inside.groupby("person_id")["date"].max()


def display_name(first: pd.Series, last: pd.Series) -> pd.Series:
    """FIRST_NAME then LAST_NAME, as recorded (no re-casing)."""
    joined = (first.fillna("") + " " + last.fillna("")).str.strip()
    return joined.mask(joined == "").astype("string")
