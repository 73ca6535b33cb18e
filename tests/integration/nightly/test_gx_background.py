"""Great Expectations imported in a process of its own while the run extracts and transforms:
the validation that follows is the same, runs there (this process never imports it), and if
that process dies the run validates here instead of losing its validation."""

from __future__ import annotations

import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from transform.findings import BLOCKING

SCRIPT = """
import multiprocessing, os, signal, sys, tempfile
from pathlib import Path
tempfile.tempdir = sys.argv[1]
from expectations import gx_run


def main(kill):
    assert "great_expectations" not in sys.modules
    gx_run.start_in_background()
    gx_run.start_in_background()  # once per process
    assert len(gx_run._background) == 1
    gx_run._background[0].result()  # the process is up (its import may still be running)
    if kill:
        (child,) = multiprocessing.active_children()
        os.kill(child.pid, signal.SIGKILL)
        child.join()

    import pandas as pd
    from datetime import date
    from expectations import suites
    from transform.findings import BLOCKING
    from transform.rules_config import Rules
    (suite,) = suites.load("findings", Rules(as_at=date(2026, 11, 21)))
    frame = pd.DataFrame({rule: [1 if rule == BLOCKING[0] else 0] for rule in BLOCKING})
    outcome = gx_run.validate([(suite, frame)], {}, Path(sys.argv[2]))
    assert gx_run._background == []  # its one job was handed over
    print(sorted(c.column for c in outcome.blocking_failures), outcome.data_docs is not None,
          "great_expectations" in sys.modules)


if __name__ == "__main__":
    main(sys.argv[3] == "kill")
"""


def run(tmp_path: Path, how: str) -> subprocess.CompletedProcess[str]:
    # Short: the forkserver's socket lives in it, and a Unix socket's path is at most 107 bytes
    # (pytest's numbered folders grow past that on a long-lived machine).
    scratch = tmp_path / "tmp"
    scratch.symlink_to(tempfile.mkdtemp(prefix="gx", dir="/tmp"))
    script = tmp_path / "background.py"  # a file: forkserver workers re-import __main__
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), str(scratch.resolve()),
                           str(tmp_path / "report"),
                           how], capture_output=True, text=True, timeout=600, check=False,
                          cwd=Path(__file__).resolve().parents[3])


def test_validation_runs_in_the_background_process_with_the_same_outcome(
        tmp_path: Path) -> None:
    done = run(tmp_path, "use")
    assert done.returncode == 0, done.stderr[-3000:]
    # The outcome and Data Docs as before, and this process never imported GX.
    assert done.stdout.strip().splitlines()[-1] == f"{[BLOCKING[0]]} True False"
    assert list((tmp_path / "tmp").iterdir()) == []
    assert (tmp_path / "report" / "gx" / "uncommitted" / "data_docs" / "local_site"
            / "index.html").is_file()
    # Owner-only, like every state folder (Great Expectations writes under the umask).
    for path in [tmp_path / "report" / "gx", *(tmp_path / "report" / "gx").rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_a_killed_background_process_means_validating_here_not_losing_it(
        tmp_path: Path) -> None:
    done = run(tmp_path, "kill")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == f"{[BLOCKING[0]]} True True"
    assert "validating in this one" in done.stderr
    assert (tmp_path / "report" / "gx" / "uncommitted" / "data_docs" / "local_site"
            / "index.html").is_file()
