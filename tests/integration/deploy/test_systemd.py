"""The shipped systemd units (``deploy/systemd``) pass ``systemd-analyze verify``: every key
known, every command there and executable (the units name /opt/databook, the documented
install folder; here it is this checkout)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import REPO

UNITS = REPO / "deploy" / "systemd"


def _verify(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", *sorted(str(p) for p in folder.iterdir())],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def units(tmp_path: Path) -> Path:
    if not shutil.which("systemd-analyze"):
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is required under CI (make test installs systemd)")
        pytest.skip("no systemd-analyze here: apt-get install systemd")
    for unit in UNITS.iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace("/opt/databook", str(REPO)))
    return tmp_path


def test_the_units_verify(units: Path) -> None:
    assert {p.name for p in units.iterdir()} >= {
        "databook-portal.service", "databook-prefect-server.service", "databook-worker.service",
        "databook-backup.service", "databook-backup.timer"}
    done = _verify(units)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


def test_verify_catches_a_broken_unit(units: Path) -> None:
    """The check can fail: a misspelt key and a missing program are both reported."""
    portal = units / "databook-portal.service"
    portal.write_text(portal.read_text().replace("ExecStart=", "ExecStrat="))
    done = _verify(units)
    assert done.returncode != 0 and "ExecStrat" in done.stderr
