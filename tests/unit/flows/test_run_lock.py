"""The run lock between real processes: a holder named when another run is refused, and a
lock left by a killed process taken over, with the dead holder named."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.run_lock import LOCK_FILE, RunLocked, holder, run_lock

HOLD = ("import sys, time, pathlib\n"
        "from flows.run_lock import run_lock\n"
        "with run_lock(pathlib.Path(sys.argv[1]), sys.argv[2]):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n")


def _holding(home: Path, run_id: str) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(home), run_id],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_a_second_run_is_refused_naming_the_run_that_holds_the_lock(tmp_path: Path) -> None:
    child = _holding(tmp_path, "20261121T020003.512345Z-aaaaaa")
    try:
        with pytest.raises(RunLocked) as refused, run_lock(tmp_path, "20261121T020004.0Z-bbbbbb"):
            raise AssertionError("two runs held the lock")
        assert "run 20261121T020003.512345Z-aaaaaa (process" in str(refused.value)
        assert f"process {child.pid} on " in str(refused.value)
        assert "this run published nothing" in str(refused.value)
        assert "\n" not in str(refused.value)
    finally:
        child.kill()
        child.wait()


def test_a_lock_left_by_a_killed_run_is_taken_over_and_the_dead_holder_named(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    child = _holding(tmp_path, "20261121T020003.512345Z-aaaaaa")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert holder(tmp_path)["pid"] == child.pid  # type: ignore[index]  # left behind
    with caplog.at_level(logging.WARNING, "databook.run_lock"), \
            run_lock(tmp_path, "20261121T020004.000000Z-bbbbbb"):
        assert holder(tmp_path)["run_id"] == "20261121T020004.000000Z-bbbbbb"  # type: ignore[index]
        with run_lock(tmp_path, "20261121T020004.000000Z-bbbbbb"):  # the flow inside the CLI
            pass
    assert "took over the run lock left by run 20261121T020003.512345Z-aaaaaa" in caplog.text
    assert "whose process is gone" in caplog.text
    assert (tmp_path / LOCK_FILE).read_text() == ""  # released in order: nothing to recover


def test_a_run_that_finished_leaves_nothing_to_take_over(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with run_lock(tmp_path, "20261121T020003.512345Z-aaaaaa"):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["host"]
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, "databook.run_lock"), \
            run_lock(tmp_path, "20261121T020004.000000Z-bbbbbb"):
        pass
    assert time.monotonic() - start < 1 and "took over" not in caplog.text
