"""A publishing process killed at any moment leaves the drop as it was."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from databook.drop import latest, runs
from databook.store import LocalStore
from publish import manifest
from publish.keystore import Keystore
from tests import publish_child

SCHOOLS = 12


def _publish(drop: Path, state: Path, kind: str) -> subprocess.Popen[bytes]:
    extra = ["amend"] if kind == "amendment" else []
    return subprocess.Popen([sys.executable, "-m", "tests.publish_child", str(drop), str(state),
                             str(SCHOOLS), *extra], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _staged(drop: Path) -> list[str]:
    return [f.name for s in drop.glob(".staging-*") for f in s.iterdir()]


@pytest.mark.parametrize("kind", ["full", "amendment"])
@pytest.mark.parametrize("kill_when", ["first file", "half the files", "all files", "manifest",
                                       "signature"])
def test_killing_a_run_mid_publish_leaves_the_previous_run_and_latest(
        tmp_path: Path, kill_when: str, kind: str) -> None:
    """A full run, or a same-day amendment of the latest run (``--changed-only``)."""
    drop, state = tmp_path / "drop", tmp_path / "state"
    publish_child.main(str(drop), str(state), SCHOOLS)
    store = LocalStore(drop)
    before_latest = latest(store)
    assert before_latest is not None
    before = {p.name: p.read_bytes() for p in (drop / before_latest).iterdir()}

    child = _publish(drop, state, kind)
    ready = {"first file": lambda n: len(n) >= 1,
             "half the files": lambda n: len(n) >= SCHOOLS // 2,
             "all files": lambda n: len(n) >= SCHOOLS,
             "manifest": lambda n: "manifest.json" in n,
             "signature": lambda n: "manifest.json.sig" in n}[kill_when]
    deadline = time.monotonic() + 120
    while not ready(_staged(drop)):
        assert child.poll() is None, "the child finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()

    keys = Keystore.open(state).public_keys()
    assert latest(store) in runs(store)
    for run_id in runs(store):  # every visible run is whole and verifies
        manifest.verify(store, run_id, keys)
    if latest(store) == before_latest:
        assert {p.name: p.read_bytes() for p in (drop / before_latest).iterdir()} == before
    elif kind == "amendment":  # killed after the rename: a whole amendment, the rest carried
        document = manifest.verify(store, str(latest(store)), keys)
        assert document["amends"]["run_id"] == before_latest
        carried = [s["file"] for s in document["schools"]
                   if s["urn"] not in document["changed_schools"]]
        assert len(carried) == SCHOOLS - SCHOOLS // 2
        assert all((drop / str(latest(store)) / f).read_bytes() == before[f] for f in carried)

    publish_child.main(str(drop), str(state), SCHOOLS)  # the next run cleans up and succeeds
    assert not list(drop.glob(".staging-*"))
    manifest.verify(store, str(latest(store)), keys)
