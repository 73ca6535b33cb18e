"""Run folders appear whole or not at all, hold one file per open school, and nothing else."""

from __future__ import annotations

import stat
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from publish.drop import SchoolFile, publish_run, school_files
from publish.errors import PublishError
from publish.workbook import RunInfo, School
from schemas.databook import KEYS

RUN = RunInfo("20261121T020000Z-aaaaaa", date(2026, 11, 21), datetime.now(UTC), "SP", "0")
SCHOOLS = pd.DataFrame({"urn": [100, 200], "dfe_number": ["830/1", "830/2"], "name": ["A", "B"]})


def rows(*urns: int) -> pd.DataFrame:
    frame = pd.DataFrame({"urn": list(urns), "person_id": range(len(urns))})
    for key in KEYS:
        frame[key] = pd.NaT if "date" in key else "x"
    return frame


def test_every_open_school_gets_a_file_even_with_no_rows(tmp_path: Path) -> None:
    files = list(school_files(SCHOOLS, rows(100, 100), {100: "p1", 200: "p2"}))
    assert [(f.school.urn, len(f.rows)) for f in files] == [(100, 2), (200, 0)]
    folder = publish_run(tmp_path / "drop", RUN, files)
    assert sorted(p.name for p in folder.iterdir()) == ["100.xlsx", "200.xlsx"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "100.xlsx").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "drop").stat().st_mode) == 0o700


def test_rows_for_a_school_that_is_not_open_are_refused() -> None:
    with pytest.raises(PublishError, match="not open schools"):
        list(school_files(SCHOOLS, rows(100, 300), {100: "p", 200: "p"}))


def test_a_failure_part_way_leaves_no_run_folder_and_the_last_run_intact(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    good = publish_run(drop, RUN, list(school_files(SCHOOLS, rows(100), {100: "a", 200: "b"})))
    before = {p.name: p.read_bytes() for p in good.iterdir()}
    broken = SchoolFile(School(300, "x", "x"), (("too", "short"),), "pw")
    later = RunInfo("20261122T020000Z-bbbbbb", date(2026, 11, 22), datetime.now(UTC), "SP", "0")
    files = [*school_files(SCHOOLS, rows(100), {100: "a", 200: "b"}), broken]
    with pytest.raises(ValueError, match="schema's columns"):
        publish_run(drop, later, files)
    assert sorted(p.name for p in drop.iterdir()) == [RUN.run_id]
    assert {p.name: p.read_bytes() for p in good.iterdir()} == before


def test_stale_staging_from_a_killed_run_is_cleaned(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    (drop / ".staging-old").mkdir(parents=True)
    (drop / ".staging-old" / "100.xlsx").write_bytes(b"half")
    publish_run(drop, RUN, list(school_files(SCHOOLS, rows(), {100: "a", 200: "b"})))
    assert sorted(p.name for p in drop.iterdir()) == [RUN.run_id]
