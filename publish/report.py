"""The run record kept in the state folder (never in the drop): what ran, with what result,
and the data-quality findings, by id only. It is what ``databook runs``, the drift gate and
the data-quality report read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from databook.fsio import make_private_dir, write_file

RUN_FILE = "run.json"
FINDINGS_FILE = "findings.csv"


def write_run_record(runs_dir: Path, run_id: str, record: dict[str, Any],
                     findings: pd.DataFrame | None = None) -> Path:
    folder = make_private_dir(runs_dir / run_id)
    if findings is not None:
        write_file(folder / FINDINGS_FILE, findings.to_csv(index=False).encode())
    write_file(folder / RUN_FILE, json.dumps(record, indent=2, sort_keys=True,
                                             default=str).encode() + b"\n")
    return folder


def read_run_record(folder: Path) -> dict[str, Any]:
    return json.loads((folder / RUN_FILE).read_text("utf-8"))
