"""The principal address (column 3), or the withheld text where it must not be disclosed."""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

from transform.periods import current_on


def principal_rows(addresses: pd.DataFrame, as_at: pd.Timestamp) -> pd.DataFrame:
    """Among current rows prefer the display address, then the contact address, then the
    latest start, then the highest id."""
    live = addresses[current_on(addresses, as_at)]
    ordered = live.sort_values(["person_id", "is_display", "is_contact", "start", "id"],
                               kind="mergesort")
    return ordered.drop_duplicates("person_id", keep="last").set_index("person_id")


def principal_address(addresses: pd.DataFrame, as_at: pd.Timestamp) -> pd.Series:
    """The principal address as one line, with its postcode."""
    best = principal_rows(addresses, as_at)
    line = best["address"].fillna("").str.replace(r"\s*[\r\n]+\s*", ", ", regex=True)
    code = best["post_code"].fillna("")
    needs_code = (code != "") & ~pd.Series(
        [c.replace(" ", "") in a.upper().replace(" ", "") for a, c in zip(line, code, strict=True)],
        index=best.index, dtype=bool)
    joined = line.where(~needs_code, (line + ", " + code).str.lstrip(", "))
    return joined.mask(joined == "").astype("string")


def address_withheld(restricted: pd.Series, warnings: pd.DataFrame, as_at: pd.Timestamp,
                     withholding_codes: Collection[str]) -> pd.Series:
    """True for a restricted record or one with a current address-withholding warning."""
    live = warnings[current_on(warnings, as_at)
                    & warnings["code"].isin(list(withholding_codes)).fillna(False)]
    return restricted | restricted.index.isin(live["person_id"])
