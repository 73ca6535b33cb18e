"""Identifiers: normalising them and telling a well-formed UPN from a malformed one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# The DfE's check-letter alphabet (no I, O or S) followed by the digits, whose positions
# (23 to 32) are congruent to their values modulo 23.
_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ0123456789"
UPN_PATTERN = r"^[A-Z][0-9]{11}[0-9A-Z]$"


def normalise(ids: pd.Series) -> pd.Series:
    """Trimmed, upper-cased strings; blanks become missing. Integer ids become their digits."""
    if pd.api.types.is_integer_dtype(ids.dtype) or pd.api.types.infer_dtype(
            ids, skipna=True) in ("string", "empty"):
        text = ids.astype("string")  # whole columns: the loop below, without a call per value
    else:
        out = ids.astype("object").where(ids.notna(), None)
        text = pd.Series([None if v is None else _as_text(v) for v in out], index=ids.index,
                         dtype="string")
    text = text.str.strip().str.upper()
    return text.mask(text == "")


def among(values: pd.Series, allowed: pd.Series) -> np.ndarray:
    """Which ``values`` are in ``allowed`` (text; a missing value is in nothing), by Arrow.

    pandas' own ``isin`` on Arrow-backed text hashes value by value in Python: 0.9 s for a
    county's roll against its case people's UPNs, where Arrow's ``is_in`` takes 0.02 s."""
    def arrow(text: pd.Series) -> pa.Array:
        return pa.array(text.astype("string"), type=pa.string(), from_pandas=True)

    found = pc.is_in(arrow(values), value_set=arrow(allowed.dropna()), skip_nulls=True)
    return found.fill_null(False).to_numpy(zero_copy_only=False)


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


#: Each byte's position in the check-letter alphabet, -1 where it has none.
_POSITION = np.full(256, -1, dtype=np.int64)
_POSITION[np.frombuffer(_ALPHABET.encode(), dtype=np.uint8)] = np.arange(len(_ALPHABET))
_WEIGHTS = np.arange(2, 14, dtype=np.int64)


def upn_check_letter_valid(upns: pd.Series) -> pd.Series:
    """For well-formed UPNs only; a malformed one is reported as such, not as a bad letter.

    Computed on whole columns (a county's roll holds a quarter of a million UPNs: one Python
    call per UPN took most of a second); a value the array form cannot take (not 13 characters
    of the alphabet) goes through ``upn_check_letter`` one by one, as before."""
    present = upns.notna().to_numpy()
    pattern = upns.astype("string").str.fullmatch(r"[A-Z0-9]{13}")
    simple = present & pattern.fillna(False).to_numpy(dtype=bool)
    valid = np.zeros(len(upns), dtype=bool)
    known = np.zeros(len(upns), dtype=bool)
    if simple.any():
        codes = np.frombuffer("".join(upns[simple].astype(str).tolist()).encode("ascii"),
                              dtype=np.uint8).reshape(-1, 13)
        body = _POSITION[codes[:, 1:]]
        fits = (body >= 0).all(axis=1)
        letters = np.frombuffer(_ALPHABET.encode(), dtype=np.uint8)[(body @ _WEIGHTS) % 23]
        where = np.flatnonzero(simple)[fits]
        valid[where] = codes[fits, 0] == letters[fits]
        known[where] = True
    for i in np.flatnonzero(present & ~known):
        u = upns.iloc[i]
        valid[i], known[i] = u[0] == upn_check_letter(u[1:]), True
    return pd.Series(pd.arrays.BooleanArray(valid, ~known), index=upns.index)
