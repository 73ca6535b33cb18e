"""Wall time and peak memory of a command and every process it starts (workers, Prefect's
temporary server), sampled from the process tree: ``ru_maxrss`` only sees one process."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psutil

SAMPLE_S = 0.02


@dataclass(frozen=True)
class Measurement:
    seconds: float
    peak_mib: float
    returncode: int
    stdout: str
    stderr: str


def _tree_rss(root: psutil.Process) -> int:
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def run(cmd: Sequence[str], env: Mapping[str, str] | None = None,
        cwd: str | None = None) -> Measurement:
    """Run ``cmd`` to the end; its peak is the largest sum of resident memory of the whole
    process tree at any sample (every 20 ms)."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env={**os.environ, **(env or {})}, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                peak = max(peak, _tree_rss(root))
            except psutil.Error:
                return
            time.sleep(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return Measurement(seconds, peak / 2**20, proc.returncode, out, err)
