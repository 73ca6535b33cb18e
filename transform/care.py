"""Periods of care: who is looked after (columns 9 and 10) and who is in care at all.

A period whose current legal statuses are all respite (short breaks) keeps the case open but
does not make the child "looked after" for the databook, unless the council configures it to.
A period with no current legal status still counts: missing detail must not hide a child in
care.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

from transform.periods import current_on, last_per


def respite_only_periods(legal_statuses: pd.DataFrame, as_at: pd.Timestamp,
                         respite_codes: Collection[str]) -> pd.Index:
    live = legal_statuses[current_on(legal_statuses, as_at)]
    is_respite = live["respite"] | live["code"].isin(list(respite_codes)).fillna(False)
    all_respite = is_respite.groupby(live["period_id"]).all()
    return pd.Index(all_respite[all_respite].index, dtype="Int64")


def looked_after_start(periods: pd.DataFrame, legal_statuses: pd.DataFrame,
                       as_at: pd.Timestamp, respite_codes: Collection[str],
                       respite_counts: bool = False) -> pd.Series:
    """Start of the current (non-respite) period of care per person."""
    live = periods[current_on(periods, as_at)]
    if not respite_counts:
        live = live[~live["id"].isin(respite_only_periods(legal_statuses, as_at, respite_codes))]
    return last_per(live, "person_id", ["start", "id"])["start"]


def in_care(periods: pd.DataFrame, as_at: pd.Timestamp) -> pd.Index:
    """People with any current period of care, short breaks included (for the case status)."""
    return pd.Index(periods.loc[current_on(periods, as_at), "person_id"].unique())
