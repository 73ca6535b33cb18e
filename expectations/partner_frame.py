"""The partner check's frame: for each child in each partner's file, is the child in one of
that partner's schools' files, and does the row hold only agreed columns?

Computed here from the school rows (``book.rows``: the rows every school file is made from),
independently of ``publish.partners``, which built the partner files: a fault there (a wrong
cohort, a column the mask let through) is caught here before anything is published. The frame
holds partner ids and booleans, never a child's details.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from schemas.databook import KEYS
from schemas.partners import PARTNER_CHECK_COLUMNS

if TYPE_CHECKING:
    from publish.partners import PartnerFile


def partner_frame(school_rows: pd.DataFrame, partners: Sequence[PartnerFile]) -> pd.DataFrame:
    """One row per (partner, child in its file)."""
    urns = school_rows["urn"].astype(int).to_numpy()
    people = school_rows["person_id"].astype(int).to_numpy()
    lines = []
    for item in partners:
        mine = set(people[pd.Series(urns).isin(item.partner.schools).to_numpy()].tolist())
        agreed = set(item.partner.columns)
        for person, row in zip(item.person_ids, item.rows, strict=True):
            shown = {k for k, v in zip(KEYS, row, strict=True) if v is not None}
            lines.append((item.partner.partner_id, int(person) in mine, shown <= agreed))
    return pd.DataFrame(lines, columns=list(PARTNER_CHECK_COLUMNS)).astype(
        {"partner": "object", "check_in_school_files": "bool", "check_columns_agreed": "bool"})
