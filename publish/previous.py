"""Today's rows against the latest published databook: which schools changed, and what
changed for each school's pupils (the Changes sheet, ``transform/row_changes.py``).

The previous rows are read back from the school's previous workbook, decrypted with the
school's cached key (the reasons are in ``transform/row_changes.py``), and only for the schools
whose keyed rows digest differs from the one in the latest signed manifest. Nothing here
writes anything: a run that is blocked or fails has changed no state.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import pandas as pd
from msoffcrypto.exceptions import InvalidKeyError
from openpyxl import load_workbook

from databook.store import DropStore
from publish.baseline import newest_signed_run
from publish.drop import SchoolFile, plain_rows
from publish.encrypt import decrypt, decrypt_with_key
from publish.errors import PublishError
from publish.keystore import Keystore
from publish.workbook import School
from schemas.changes import MANIFEST_UPDATED_AT
from schemas.databook import HEADERS, SHEET_DATABOOK
from transform.row_changes import (
    Previous,
    Row,
    SchoolChanges,
    balance,
    digests_differ,
    rows_digest,
    school_changes,
)

log = logging.getLogger(__name__)

#: Reads a school's file in the latest run: (URN, its manifest entry) -> the workbook's bytes.
ReadWorkbook = Callable[[int, Mapping[str, Any]], bytes]


@dataclass(frozen=True)
class Latest:
    """The run ``latest`` names, from its verified manifest."""

    run_id: str
    as_at: date
    entries: Mapping[int, Mapping[str, Any]]
    #: The whole verified manifest (the drift gate compares with its totals).
    document: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_manifest(cls, document: Mapping[str, Any]) -> Latest:
        return cls(str(document["run_id"]), date.fromisoformat(str(document["as_at"])),
                   {int(s["urn"]): s for s in document["schools"]}, document)

    def previous(self, urn: int) -> Previous | None:
        entry = self.entries.get(urn)
        return None if entry is None else Previous(self.run_id, self.as_at,
                                                   int(entry["children"]))


@dataclass(frozen=True)
class SchoolComparison:
    urn: int
    digest: str
    #: The rows differ from the school's entry in the latest run, or it has none.
    changed: bool
    changes: SchoolChanges
    #: The latest entry's "updated at", carried while the rows stay the same.
    updated_at: str = ""


@dataclass(frozen=True)
class Comparison:
    latest: Latest | None
    schools: Mapping[int, SchoolComparison] = field(default_factory=dict)
    #: Each open school's number of rows today.
    counts: Mapping[int, int] = field(default_factory=dict)
    #: Why ``latest`` is not simply the run the ``latest`` file names (that file missing or
    #: unusable: the newest signed run instead, or none); for the report and the log.
    note: str = ""

    @property
    def changed(self) -> list[int]:
        """Schools whose databook would differ from the latest run's, by URN."""
        return sorted(u for u, s in self.schools.items() if s.changed)

    @property
    def gone(self) -> list[int]:
        """Schools in the latest run that have no databook today (closed since)."""
        if self.latest is None:
            return []
        return sorted(set(self.latest.entries) - set(self.schools))

    def balance_lines(self) -> list[dict[str, int]]:
        """The change-count check's lines: every school with a previous databook whose
        changes were counted (an unchanged school has nothing to count)."""
        lines = []
        for urn, school in sorted(self.schools.items()):
            line = balance(urn, school.changes, self.counts[urn]) if school.changed else None
            if line is not None:
                lines.append(line)
        return lines


def rows_by_school(rows: pd.DataFrame, urns: Sequence[int]) -> dict[int, list[Row]]:
    """Each open school's published rows as plain values (empty for a school with none)."""
    # Converted once for the whole county, then dealt out: converting school by school cost
    # 600 times 19 small column conversions (5 s of the comparison's 9 s under a profiler).
    grouped: dict[int, list[Row]] = {}
    for urn, row in zip(rows["urn"].tolist(), plain_rows(rows), strict=True):
        grouped.setdefault(int(urn), []).append(row)
    return {int(u): grouped.get(int(u), []) for u in urns}


def read_rows(xlsx: bytes) -> list[Row]:
    """The rows of a databook's Databook sheet, by header, so a workbook written before a
    column was added still reads (the new column is blank)."""
    workbook = load_workbook(io.BytesIO(xlsx), read_only=True)
    try:
        sheet = workbook[SHEET_DATABOOK]
        lines = sheet.iter_rows(values_only=True)
        header = [str(h) if h is not None else "" for h in next(lines, ())]
        where = [header.index(h) if h in header else None for h in HEADERS]
        out: list[Row] = []
        for line in lines:
            if all(v is None for v in line):
                continue
            out.append(tuple(None if i is None or i >= len(line) else line[i] for i in where))
        return out
    finally:
        workbook.close()


def compare(latest: Latest | None, today: Mapping[int, Sequence[Row]], read: ReadWorkbook,
            digest_key: bytes, withheld: str) -> Comparison:
    """Every school's digest and changes; only schools whose digest differs are read."""
    schools: dict[int, SchoolComparison] = {}
    read_count = 0
    for urn, rows in today.items():
        digest = rows_digest(rows, digest_key)
        entry = None if latest is None else latest.entries.get(urn)
        previous = None if latest is None else latest.previous(urn)
        if entry is None or previous is None:
            schools[urn] = SchoolComparison(urn, digest, True, SchoolChanges(None))
        elif not digests_differ(entry, digest):
            schools[urn] = SchoolComparison(urn, digest, False, SchoolChanges(previous),
                                            str(entry.get(MANIFEST_UPDATED_AT) or ""))
        else:
            old = read_rows(read(urn, entry))
            read_count += 1
            counted = school_changes(previous, old, rows, withheld)
            # Rows read back that are the same after all (a manifest from before digests, or
            # from a digest of another format or key): no change.
            same = rows_digest(old, digest_key) == digest
            schools[urn] = SchoolComparison(urn, digest, not same, counted,
                                            str(entry.get(MANIFEST_UPDATED_AT) or "")
                                            if same else "")
    log.info("compared %d school(s) with %s: %d changed, %d workbook(s) read",
             len(schools), "no earlier run" if latest is None else f"run {latest.run_id}",
             sum(s.changed for s in schools.values()), read_count)
    return Comparison(latest, schools, {u: len(r) for u, r in today.items()})


def drop_reader(store: DropStore, keystore: Keystore, run_id: str) -> ReadWorkbook:
    """Opens a school's file in ``run_id``: its bytes checked against the signed manifest's
    SHA-256, then decrypted with the school's cached key, or its password for a file made
    before the cache."""

    def read(urn: int, entry: Mapping[str, Any]) -> bytes:
        name = f"{run_id}/{entry['file']}"
        data = store.read(name)
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise PublishError(f"{name} does not match its manifest entry")
        key = keystore.current_key(urn)
        if key is not None:
            try:
                return decrypt_with_key(data, key)
            except ValueError:
                log.debug("school %s's latest file predates its cached key", urn)
        try:
            return decrypt(data, keystore.password(urn))
        except InvalidKeyError:
            raise PublishError(f"{name} does not open with school {urn}'s current password: "
                               "its changes cannot be counted") from None

    return read


def compare_with_latest(store: DropStore, keystore: Keystore, rows: pd.DataFrame,
                        urns: Sequence[int], withheld: str) -> Comparison:
    """Today's rows of every open school in ``urns`` against the run ``latest`` names, whose
    manifest is verified first (signature, then every file's hash); with ``latest`` missing or
    unusable, against the newest run whose signature verifies (``publish.baseline``), so the
    drift gate never fails open by comparing with nothing."""
    baseline = newest_signed_run(store, keystore.public_keys())
    document = baseline.document
    current = None if document is None else Latest.from_manifest(document)
    today = rows_by_school(rows, urns)
    read = drop_reader(store, keystore, current.run_id if current else "")
    compared = compare(current, today, read, keystore.pseudonymiser().digest_key(), withheld)
    return replace(compared, note=baseline.note)


def attach(files: Sequence[SchoolFile], comparison: Comparison,
           only: Sequence[int] | None = None) -> list[SchoolFile]:
    """The school files with their Changes sheet, digest and "updated at"; ``only`` keeps
    just those schools (a changed-only run renders the changed ones alone)."""
    keep = None if only is None else set(only)
    out = []
    for item in files:
        if keep is not None and item.school.urn not in keep:
            continue
        school = comparison.schools[item.school.urn]
        out.append(replace(item, changes=school.changes, rows_digest=school.digest,
                           updated_at=school.updated_at))
    return out


def renamed(schools: Iterable[School], comparison: Comparison) -> list[int]:
    """Schools whose name or DfE number changed since the latest run: their files' About
    sheets differ even when their rows do not."""
    if comparison.latest is None:
        return []
    entries = comparison.latest.entries
    return sorted(s.urn for s in schools if s.urn in entries and (
        str(entries[s.urn]["name"]) != s.name
        or str(entries[s.urn]["dfe_number"]) != s.dfe_number))
