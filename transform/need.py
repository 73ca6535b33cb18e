"""Referral periods: case status (column 4) and child in need (columns 11 and 12)."""

from __future__ import annotations

import pandas as pd

from schemas import codes
from transform.periods import current_on, last_per


def current_referral_date(referrals: pd.DataFrame, as_at: pd.Timestamp) -> pd.Series:
    """Referral date of the current referral period per person (the latest, if several)."""
    live = referrals[current_on(referrals, as_at)]
    return last_per(live, "person_id", ["start", "id"])["start"]


def case_status(people: pd.Index, referral_date: pd.Series, cp_start: pd.Series,
                in_care: pd.Index) -> pd.Series:
    """Open with a current referral period, CP plan or period of care (short breaks count)."""
    is_open = (people.isin(referral_date.index) | people.isin(cp_start.index)
               | people.isin(in_care))
    return pd.Series(is_open, index=people).map(
        {True: codes.OPEN, False: codes.CLOSED}).astype("string")


def child_in_need_from(referral_date: pd.Series, cp_start: pd.Series,
                       looked_after_start: pd.Series) -> pd.Series:
    """Mosaic's CIN badge: a current referral, and neither on a current plan nor looked after."""
    other = referral_date.index.isin(cp_start.index) | referral_date.index.isin(
        looked_after_start.index)
    return referral_date[~other]
