"""Child protection: the current plan and the most recent ended one (columns 5 to 8).

Temporary registrations (a child visiting from another council) are not this council's plans
and count for neither.
"""

from __future__ import annotations

import pandas as pd

from transform.periods import current_on, ended_by, last_per


def current_cp_start(plans: pd.DataFrame, as_at: pd.Timestamp) -> pd.Series:
    """Start date of the current plan per person (the latest, should two overlap)."""
    live = plans[~plans["temporary"] & current_on(plans, as_at)]
    return last_per(live, "person_id", ["start", "id"])["start"]


def previous_cp(plans: pd.DataFrame, as_at: pd.Timestamp) -> pd.DataFrame:
    """Start and end of the ended plan with the latest end date, per person."""
    ended = plans[~plans["temporary"] & ended_by(plans, as_at)]
    return last_per(ended, "person_id", ["end", "start", "id"])[["start", "end"]]
