"""Worker processes end with the run that started them, even when it is killed: Great
Expectations' process and the render pool's workers of a SIGKILLed run used to stay for good."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from databook.workers import alive, started

SCRIPT = """
import os, sys, time
from databook import workers
from expectations import gx_run
from publish.drop import process_pool


def main():
    gx_run.start_in_background()
    gx_pool = gx_run._background[0].result()
    render_pool = process_pool(2)
    pids = {gx_pool.submit(os.getpid).result(timeout=120)}
    pids |= set(render_pool.map(_pid_after, [0.3] * 4))
    print(*sorted(pids), flush=True)
    time.sleep(600)


def _pid_after(seconds):
    time.sleep(seconds)  # both workers take a job
    return os.getpid()


if __name__ == "__main__":
    main()
"""


def _gone(pid: int) -> bool:
    """Ended (a zombie waiting to be reaped counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc")
def test_the_workers_of_a_killed_run_end_on_their_own(tmp_path: Path) -> None:
    script = tmp_path / "run.py"  # a file: forkserver workers re-import __main__
    script.write_text(SCRIPT)
    run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                           cwd=Path(__file__).resolve().parents[3])
    try:
        assert run.stdout is not None
        pids = [int(p) for p in run.stdout.readline().split()]
        assert len(pids) == 3  # Great Expectations' process and two render workers
        time.sleep(1.5)
        assert not any(_gone(p) for p in pids), "workers end only when the run does"
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    deadline = time.monotonic() + 15
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in pids if not _gone(p)]
    for pid in left:  # do not leave them to the next test either
        os.kill(pid, signal.SIGKILL)
    assert not left, "a killed run's workers outlived it"


def test_a_new_process_with_the_same_id_is_not_taken_for_the_run() -> None:
    me = os.getpid()
    assert alive(me, started(me))
    assert not alive(me, "1")  # same id, another start time: a different process
    assert started(2**22 + 7) is None  # no such process
