"""One run at a time: two `databook run` started a second apart against the same home and
drop; exactly one publishes, the other refuses in one line naming the run that holds the lock,
and leaves no record and nothing in the drop."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from databook.drop import runs
from databook.store import LocalStore
from tests.support import AS_AT, Council, clean_env

pytestmark = pytest.mark.prefect


def test_two_runs_at_once_publish_once(prefect_api: str, council: Council,
                                       tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = clean_env(PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect"),
                    DATABOOK_HOME=str(home), DATABOOK_SOURCE_URL=council.case_url,
                    DATABOOK_ROLL_URL=council.roll_url)
    command = [sys.executable, "-m", "databook", "run", "--as-at", AS_AT.isoformat()]
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    time.sleep(1)
    second = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    outcomes = [(p.wait(timeout=600), *p.communicate()) for p in (first, second)]
    won = [o for o in outcomes if o[0] == 0]
    lost = [o for o in outcomes if o[0] != 0]
    assert len(won) == 1 and len(lost) == 1, [(o[0], o[2][-1500:]) for o in outcomes]
    store = LocalStore(home / "drop")
    (published,) = runs(store)
    assert won[0][1].strip().endswith(published)
    code, out, err = lost[0]
    refused = err.strip().splitlines()[-1]
    assert code == 1 and out == ""
    assert refused.startswith("databook: error: another run holds the run lock")
    assert f"run {published} (process " in refused and "this run published nothing" in refused
    # the refused run left no record behind (a "running" one would later read as a crash)
    assert [p.name for p in (home / "runs").iterdir() if p.is_dir()] == [published]
