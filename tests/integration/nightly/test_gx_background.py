"""Great Expectations imported and warmed up on a thread while the run extracts: the
validation that follows is the same, and the warm-up leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys, tempfile, threading
from pathlib import Path
tempfile.tempdir = sys.argv[1]
from expectations import gx_run
assert "great_expectations" not in sys.modules
gx_run.import_in_background()
gx_run.import_in_background()  # once per process
(thread,) = gx_run._importing
assert thread.daemon and thread.name == "import-great-expectations"
thread.join()
assert "great_expectations.data_context" in sys.modules

import pandas as pd
from datetime import date
from expectations import suites
from transform.findings import BLOCKING
from transform.rules_config import Rules
(suite,) = suites.load("findings", Rules(as_at=date(2026, 11, 21)))
frame = pd.DataFrame({rule: [1 if rule == BLOCKING[0] else 0] for rule in BLOCKING})
outcome = gx_run.validate([(suite, frame)], {}, Path(sys.argv[2]))
print(sorted(c.column for c in outcome.blocking_failures), outcome.data_docs is not None)
"""


def test_the_background_import_warms_up_and_validation_is_unchanged(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(scratch), str(tmp_path / "report")],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    from transform.findings import BLOCKING

    assert done.stdout.strip().splitlines()[-1] == f"{[BLOCKING[0]]} True"
    assert list(scratch.iterdir()) == []  # the warm-up's Data Docs went with its folder
    assert (tmp_path / "report" / "gx" / "uncommitted" / "data_docs" / "local_site"
            / "index.html").is_file()
