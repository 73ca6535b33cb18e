"""The drift gate: tonight's totals against the last published run's signed manifest.

A sudden change usually means a broken extract (a view that lost a join, a feed that came in
half), and publishing it would mislead schools; so it blocks, unless an officer accepts it
with a reason, which is then written into the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

COUNTY_MEASURES = ("cp_current", "lac_current", "cin_current", "dv_notification", "cautions")


@dataclass(frozen=True)
class Thresholds:
    county_change: float = 0.20  # a county-wide count moving by more than this fraction
    school_loss: float = 0.50  # a school losing more than this fraction of its rows...
    school_min_rows: int = 10  # ...when it had at least this many


@dataclass(frozen=True)
class Change:
    measure: str
    previous: int
    current: int

    @property
    def text(self) -> str:
        if self.previous:
            return (f"{self.measure} {self.previous} -> {self.current} "
                    f"({(self.current - self.previous) / self.previous:+.0%})")
        return f"{self.measure} {self.previous} -> {self.current}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def totals(summary: Mapping[str, int]) -> dict[str, int]:
    """The county-wide counts a manifest keeps for the next run to compare with."""
    return {m: int(summary[m]) for m in ("children", *COUNTY_MEASURES)}


def compare(previous: Mapping[str, Any], current_totals: Mapping[str, int],
            children_by_school: Mapping[int, int], limits: Thresholds) -> list[Change]:
    changes = []
    before = previous.get("totals", {})
    for measure in COUNTY_MEASURES:
        if measure not in before:
            continue
        old, new = int(before[measure]), int(current_totals[measure])
        moved = abs(new - old) / old if old else (1.0 if new else 0.0)
        if moved > limits.county_change:
            changes.append(Change(measure, old, new))
    for school in previous.get("schools", []):
        old, urn = int(school["children"]), int(school["urn"])
        if urn not in children_by_school or old < limits.school_min_rows:
            continue  # a school that closed, or too small to judge
        new = children_by_school[urn]
        if new < old * (1 - limits.school_loss):
            changes.append(Change(f"school {urn} rows", old, new))
    return changes
