"""Which earlier run tonight's run is compared with: the one ``latest`` names, or, when
``latest`` is missing or unreadable, the newest run in the drop whose signature verifies.

The drift gate used to fail open: with ``latest`` deleted it saw "no earlier run" and let a
feed that had lost every child protection plan publish, although signed runs were still in
the drop. A ``latest`` that names a run whose manifest does not verify is an error (someone
must look at the drop), never a reason to compare with nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from databook.drop import LATEST, RUN_ID, runs
from databook.store import DropStore
from publish import manifest

log = logging.getLogger(__name__)

NO_PREVIOUS = "no previous signed run"


@dataclass(frozen=True)
class Baseline:
    """The verified manifest to compare with (None: there is none), and, when it is not simply
    the run ``latest`` names, a sentence saying why; both go into the report and the log."""

    document: Mapping[str, Any] | None
    note: str = ""

    @property
    def run_id(self) -> str | None:
        return None if self.document is None else str(self.document["run_id"])


def _named_by_latest(store: DropStore) -> tuple[str | None, str]:
    """The run id ``latest`` names, or None and why not (safe to print: no file content)."""
    if not store.exists(LATEST):
        return None, "`latest` is missing"
    try:
        name = store.read(LATEST).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None, "`latest` cannot be read"
    if not RUN_ID.match(name):
        return None, "`latest` does not hold a run id"
    if not (store.exists(name) and store.is_dir(name)):
        return None, "`latest` names a run that is not in the drop"
    return name, ""


def newest_signed_run(store: DropStore, public_keys: Mapping[str, str]) -> Baseline:
    """The run to compare with. Raises ``ManifestError`` when ``latest`` names a run that does
    not verify; walks back from the newest run when ``latest`` itself is unusable."""
    named, why = _named_by_latest(store)
    if named is not None:
        return Baseline(manifest.verify(store, named, public_keys))
    skipped = []
    present = store.exists("") and store.is_dir("")
    for run_id in reversed(runs(store) if present else []):
        try:
            document = manifest.verify(store, run_id, public_keys)
        except manifest.ManifestError as exc:
            log.warning("run %s in the drop does not verify, not compared with: %s", run_id, exc)
            skipped.append(run_id)
            continue
        note = (f"{why}; compared with run {run_id}, the newest run whose signature verifies"
                + (f" ({len(skipped)} newer run(s) did not verify)" if skipped else ""))
        log.warning("drift baseline: %s", note)
        return Baseline(document, note)
    note = NO_PREVIOUS + (f" ({why}; {len(skipped)} run(s) in the drop did not verify)"
                          if skipped else "")
    # A first run into an empty drop is expected; a drop with runs but none usable is not.
    log.log(logging.WARNING if skipped else logging.INFO,
            "drift baseline: %s: tonight's totals are not compared with anything", note)
    return Baseline(None, note)
