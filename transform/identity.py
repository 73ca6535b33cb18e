"""Identifiers: normalising them and telling a well-formed UPN from a malformed one."""

from __future__ import annotations

import pandas as pd

# The DfE's check-letter alphabet (no I, O or S) followed by the digits, whose positions
# (23 to 32) are congruent to their values modulo 23.
_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ0123456789"
UPN_PATTERN = r"^[A-Z][0-9]{11}[0-9A-Z]$"


def normalise(ids: pd.Series) -> pd.Series:
    """Trimmed, upper-cased strings; blanks become missing. Integer ids become their digits."""
    out = ids.astype("object").where(ids.notna(), None)
    text = pd.Series([None if v is None else _as_text(v) for v in out], index=ids.index,
                     dtype="string")
    text = text.str.strip().str.upper()
    return text.mask(text == "")


def _as_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def upn_well_formed(upns: pd.Series) -> pd.Series:
    return upns.str.fullmatch(UPN_PATTERN).fillna(False).astype(bool)


def upn_check_letter(body: str) -> str:
    """The check letter for the 12 characters after it (DfE algorithm, weights 2 to 13)."""
    total = sum(weight * _ALPHABET.index(ch) for weight, ch in enumerate(body, start=2))
    return _ALPHABET[total % 23]


def upn_check_letter_valid(upns: pd.Series) -> pd.Series:
    """For well-formed UPNs only; a malformed one is reported as such, not as a bad letter."""
    return upns.map(lambda u: u[0] == upn_check_letter(u[1:]), na_action="ignore").astype(
        "boolean")
