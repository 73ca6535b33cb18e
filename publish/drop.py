"""A run folder in the drop: every open school's encrypted databook, written in a staging
folder on the same filesystem and renamed into place in one step.

A run that fails part-way leaves no run folder behind, and the previous runs untouched. The
expensive part is the 100,000-round password hash inside each file's encryption, so schools
are rendered and encrypted in parallel worker processes; only encrypted bytes come back.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from publish.encrypt import encrypt
from publish.errors import PublishError
from publish.fsio import fsync_dir, make_private_dir, write_file
from publish.workbook import RunInfo, School, Value, render
from schemas.databook import DATE_KEYS, KEYS

log = logging.getLogger(__name__)

STAGING_PREFIX = ".staging-"


@dataclass(frozen=True)
class SchoolFile:
    school: School
    rows: tuple[tuple[Value, ...], ...]
    password: str

    @property
    def file_name(self) -> str:
        return f"{self.school.urn}.xlsx"


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: UTC time to the second plus a short random tail."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{os.urandom(3).hex()}"


def plain_rows(frame: pd.DataFrame) -> list[tuple[Value, ...]]:
    """Schema columns only, as Python values: ``str``, ``date`` or ``None``."""
    columns: list[list[Value]] = []
    for key in KEYS:
        col = frame[key]
        if key in DATE_KEYS:
            values = [None if pd.isna(v) else v.date() for v in col]
        else:
            values = [None if pd.isna(v) else str(v) for v in col]
        columns.append(values)
    return list(zip(*columns, strict=True))


def school_files(schools: pd.DataFrame, rows: pd.DataFrame,
                 passwords: Mapping[int, str]) -> Iterator[SchoolFile]:
    """One file per open school. A row whose school is not in ``schools`` is an error: it
    would otherwise be silently dropped or, worse, land in another school's file."""
    stray = set(rows["urn"]) - set(schools["urn"])
    if stray:
        raise PublishError(f"{len(stray)} school(s) in the rows are not open schools")
    by_school = {int(str(urn)): group for urn, group in rows.groupby("urn", sort=False)}
    for urn, dfe_number, name in zip(schools["urn"].astype(int).tolist(),
                                     schools["dfe_number"].fillna("").astype(str).tolist(),
                                     schools["name"].fillna("").astype(str).tolist(), strict=True):
        group = by_school.get(urn, rows.iloc[0:0])
        if not (group["urn"] == urn).all():
            raise PublishError(f"rows for another school reached school {urn}'s file")
        yield SchoolFile(School(urn, dfe_number, name), tuple(plain_rows(group)), passwords[urn])


def render_encrypted(job: tuple[SchoolFile, RunInfo]) -> tuple[str, bytes]:
    item, run = job
    return item.file_name, encrypt(render(item.school, item.rows, run), item.password)


def _encrypted(jobs: Sequence[tuple[SchoolFile, RunInfo]],
               workers: int) -> Iterator[tuple[str, bytes]]:
    if workers <= 1 or len(jobs) < 4:
        yield from map(render_encrypted, jobs)
        return
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(render_encrypted, jobs, chunksize=max(1, len(jobs) // (workers * 8)))


def clean_stale_staging(drop: Path) -> int:
    """Remove staging folders that an interrupted run left behind."""
    stale = [p for p in drop.glob(f"{STAGING_PREFIX}*") if p.is_dir()]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


def publish_run(drop: Path, run: RunInfo, files: Sequence[SchoolFile],
                workers: int = 1) -> Path:
    """Write every school's file and move the whole run folder into the drop at once."""
    try:
        make_private_dir(drop)
    except OSError as exc:
        raise PublishError(f"cannot create the drop folder {drop}: {exc.strerror}") from None
    if cleaned := clean_stale_staging(drop):
        log.warning("removed %d staging folder(s) left by an interrupted run", cleaned)
    final = drop / run.run_id
    if final.exists():
        raise PublishError(f"run folder {final} already exists")
    staging = make_private_dir(drop / f"{STAGING_PREFIX}{run.run_id}")
    try:
        jobs = [(item, run) for item in files]
        for name, data in _encrypted(jobs, workers):
            write_file(staging / name, data)
        fsync_dir(staging)
        os.rename(staging, final)
        fsync_dir(drop)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise PublishError(
            f"writing run {run.run_id} to {drop} failed: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("published %d school file(s) to %s", len(files), final)
    return final
