"""Worker processes that end with the run that started them.

A ``ProcessPoolExecutor`` worker waits on its call queue, whose write end it holds itself, and
a forkserver lives as long as any of its workers does. So when the run is killed (SIGKILL, the
out-of-memory killer), nothing tells them, and each stays for good: found after the tests,
Great Expectations' process of a killed run (about 300 MiB) was still there an hour later.
Workers from ``pool`` watch the process that made the pool and leave once it has gone.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

#: How often a worker checks that its run is still there.
POLL_S = 0.5


def pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes that end with this one. Forkserver, not fork: the
    caller may be running threads (Prefect's)."""
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("forkserver"),
                               initializer=watch, initargs=(os.getpid(), started(os.getpid())))


def started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), so that a new process
    given the same id later is not taken for it; None where /proc cannot say."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # The command name, in parentheses, may itself hold spaces: split after it.
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but not ours: a new process with that id
        return False
    return start is None or started(pid) == start


def watch(parent: int, start: str | None) -> None:
    """The pool's initializer: a thread that ends this worker once ``parent`` has gone."""
    def check() -> None:
        while alive(parent, start):
            time.sleep(POLL_S)
        os._exit(1)

    threading.Thread(target=check, name="end-with-the-run", daemon=True).start()
