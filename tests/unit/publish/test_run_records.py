"""Run records follow the retention setting, and their files are overwritten, not only
unlinked."""

from __future__ import annotations

import os
from pathlib import Path

from flows.settings import load
from publish.report import write_run_record
from publish.run_records import prune_run_records, remove_run_records, run_record_ids


def _ids(n: int) -> list[str]:
    return [f"202611{day:02d}T020003.512345Z-a1b2c3" for day in range(1, n + 1)]


def _record(runs: Path, run_id: str, status: str) -> None:
    folder = write_run_record(runs, run_id, {"run_id": run_id, "status": status})
    (folder / "report.html").write_text("UPN A123456789012 person 42")
    (folder / "datadocs").mkdir()
    (folder / "datadocs" / "index.html").write_text("row 42")


def test_old_run_records_are_removed_and_their_bytes_overwritten(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    ids = _ids(6)
    for run_id, status in zip(ids, ["published", "failed", "running", "blocked", "failed",
                                    "failed"], strict=True):
        _record(runs, run_id, status)
    witness = tmp_path / "witness"  # a second name for the oldest report's bytes
    os.link(runs / ids[0] / "report.html", witness)

    removed = prune_run_records(runs, keep=2)

    # kept: the newest two, the running one, and the newest published one (the oldest here)
    assert removed == [ids[1], ids[3]]
    assert run_record_ids(runs) == [ids[0], ids[2], ids[4], ids[5]]
    assert witness.read_bytes() == b"UPN A123456789012 person 42"  # spared: untouched
    os.link(runs / ids[4] / "report.html", tmp_path / "witness2")
    assert remove_run_records(runs, [ids[4], "../etc", "not-a-run"]) == [ids[4]]
    assert (tmp_path / "witness2").read_bytes() == bytes(len("UPN A123456789012 person 42"))


def test_run_records_are_kept_as_long_as_the_drop_keeps_runs_by_default(tmp_path: Path) -> None:
    env = {"DATABOOK_HOME": str(tmp_path)}
    assert load(environ=env).run_records_kept == load(environ=env).keep_runs == 14
    assert load(environ=env | {"DATABOOK_KEEP_RUNS": "5"}).run_records_kept == 5
    assert load(environ=env | {"DATABOOK_KEEP_RUN_RECORDS": "3"}).run_records_kept == 3
