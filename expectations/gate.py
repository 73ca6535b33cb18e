"""The publish gate: blocking expectations and drift decide whether tonight's run publishes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from databook.store import DropStore
from expectations import frames, suites
from expectations.drift import Change, Thresholds, compare, totals
from expectations.gx_run import Outcome, Pending, submit
from extract import SourceData
from publish.baseline import NO_PREVIOUS, Baseline, newest_signed_run
from transform import Databook, Rules


class PublishBlocked(Exception):
    """Validation or drift stopped the run; the previous databooks stay current."""


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    changes: list[Change] = field(default_factory=list)
    accepted_drift: str | None = None
    previous_run: str | None = None
    #: Why the comparison is with ``previous_run`` (or with nothing), when it is not simply
    #: the run ``latest`` names; shown in the report, the log and the manifest.
    baseline_note: str = ""

    @property
    def blocked(self) -> bool:
        return bool(self.outcome.blocking_failures) or bool(
            self.changes and not self.accepted_drift)

    def reason(self, report: Path) -> str:
        parts = []
        if failed := self.outcome.blocking_failures:
            parts.append(f"{len(failed)} blocking expectation(s) failed: "
                         + "; ".join(c.label for c in failed[:5])
                         + ("; ..." if len(failed) > 5 else ""))
        if self.changes and not self.accepted_drift:
            parts.append(f"drift since run {self.previous_run}: "
                         + "; ".join(c.text for c in self.changes[:5])
                         + " (accept with --accept-drift REASON)")
        return f"publishing blocked: {' | '.join(parts)}; report: {report}"

    def manifest_fields(self, summary: Mapping[str, int]) -> dict[str, Any]:
        extra: dict[str, Any] = {"totals": totals(summary)}
        drift: dict[str, Any] = {}
        if self.changes and self.accepted_drift:
            drift = {"accepted": self.accepted_drift, "since": self.previous_run,
                     "changes": [c.as_dict() for c in self.changes]}
        if self.baseline_note:
            drift |= {"since": self.previous_run, "note": self.baseline_note}
        if drift:
            extra["drift"] = drift
        return extra

    def summary(self) -> dict[str, Any]:
        noted = [self.baseline_note] if self.baseline_note else []
        return {**self.outcome.summary(), "drift": noted + [c.text for c in self.changes],
                "accepted_drift": self.accepted_drift, "drift_since": self.previous_run}


def validate_run(book: Databook, data: SourceData, rules: Rules, report_dir: Path,
                 balance: pd.DataFrame | None = None,
                 partners: pd.DataFrame | None = None) -> Outcome:
    """Every suite in one Great Expectations context; ``balance`` (``frames.balance_frame``)
    adds the change-count check of the Changes sheets, ``partners``
    (``partner_frame.partner_frame``) the partner files' check."""
    return start_validation(book, data, rules, report_dir, balance, partners).result()


def start_validation(book: Databook, data: SourceData, rules: Rules, report_dir: Path,
                     balance: pd.DataFrame | None = None,
                     partners: pd.DataFrame | None = None) -> Pending:
    """``validate_run``, started: in Great Expectations' own process when the run started
    one, so the workbooks can be rendered meanwhile (publishing waits for the outcome)."""
    databook = frames.databook_frame(book, data, rules)
    batches = [(s, databook) for s in suites.load("databook", rules)]
    batches += [(s, frames.findings_frame(book)) for s in suites.load("findings", rules)]
    if balance is not None:
        batches += [(s, balance) for s in suites.load("changes", rules)]
    if partners is not None:
        batches += [(s, partners) for s in suites.load("partners", rules)]
    batches += [(s, frames.source_frame(data, s.batch.removeprefix("source."), s.columns))
                for s in suites.load("source", rules)]
    return submit(batches, {"as_at": pd.Timestamp(rules.as_at)}, report_dir)


def previous_published(store: DropStore, public_keys: Mapping[str, str]) -> Baseline:
    """The run to compare with (``publish.baseline``): the one ``latest`` names, verified;
    else the newest run whose signature verifies; else none, said so."""
    return newest_signed_run(store, public_keys)


def judge(outcome: Outcome, book: Databook, previous: Mapping[str, Any] | Baseline | None,
          limits: Thresholds, accept_drift: str | None, note: str = "") -> Verdict:
    """The verdict against ``previous`` (a verified manifest, or a ``Baseline`` with its
    note). With nothing to compare with, the verdict says so rather than passing silently."""
    if isinstance(previous, Baseline):
        note = previous.note or note
        previous = previous.document
    if previous is None:
        return Verdict(outcome, accepted_drift=accept_drift, baseline_note=note or NO_PREVIOUS)
    sizes = book.rows.groupby("urn").size()
    per_school = {int(str(u)): int(n) for u, n in sizes.items()}
    per_school |= {int(u): 0 for u in book.schools["urn"] if int(u) not in per_school}
    changes = compare(previous, totals(book.summary()), per_school, limits)
    return Verdict(outcome, changes, accept_drift, str(previous["run_id"]), note)
