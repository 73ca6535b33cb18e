"""The principal address (column 3), or the withheld text where it must not be disclosed."""

from __future__ import annotations

import re
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
    lines = [_one_line(address, code) for address, code in zip(
        best["address"].fillna("").tolist(), best["post_code"].fillna("").tolist(), strict=True)]
    joined = pd.Series(lines, index=best.index, dtype="string")
    return joined.mask(joined == "")


_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def _one_line(address: str, code: str) -> str:
    """Line breaks become ", "; the postcode is added unless the address already holds it
    (ignoring spaces and case). Plain Python over lists: a county has tens of thousands of
    current addresses, and pandas took the regular expression (Python's ``\\s``, which RE2
    does not match alike) value by value through its own slower path."""
    line = _BREAKS.sub(", ", address) if "\n" in address or "\r" in address else address
    if code and code.replace(" ", "") not in line.upper().replace(" ", ""):
        line = f"{line}, {code}".lstrip(", ")
    return line


def address_withheld(restricted: pd.Series, warnings: pd.DataFrame, as_at: pd.Timestamp,
                     withholding_codes: Collection[str]) -> pd.Series:
    """True for a restricted record or one with a current address-withholding warning."""
    live = warnings[current_on(warnings, as_at)
                    & warnings["code"].isin(list(withholding_codes)).fillna(False)]
    return restricted | restricted.index.isin(live["person_id"])
