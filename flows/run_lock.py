"""One run at a time on a nightly host, whoever starts it (``databook run``, the nightly or
changed-only deployment, ``keys rotate``): two runs at once would both compare with the same
previous run, so one's Changes sheets would repeat what schools already saw, and ``latest``
would be whichever finished last.

The lock is ``$DATABOOK_HOME/run.lock``: an exclusive ``flock`` held for the whole run, and,
inside the file, who holds it (run id, process id and start time, host, since when) so a
refused run can name it. The kernel releases a ``flock`` when its process dies, however it
dies, so a lock left by a killed run is never in the way; the next run finds the dead holder's
details still in the file, says so, and takes the lock. A run holding the lock takes it again
freely (the command line takes it before it records the run; the flow inside takes it too).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from databook.drop import RUN_ID
from databook.settings import SettingsError
from flows.recovery import alive, this_process

LOCK_FILE = "run.lock"
log = logging.getLogger("databook.run_lock")

#: Locks this process holds: path -> run id.
_held: dict[Path, str] = {}


class RunLocked(SettingsError):
    """Another run holds the lock; the message names it. Nothing was published."""


def holder(home: Path) -> dict[str, Any] | None:
    """Who holds (or last held) the lock, from the file; None if nobody ever did."""
    try:
        found = json.loads((home / LOCK_FILE).read_text() or "null")
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def describe(found: dict[str, Any] | None) -> str:
    if not found:
        return "an unknown run"
    held_by = str(found.get("run_id"))
    what = f"run {held_by}" if RUN_ID.match(held_by) else f"`databook {held_by}`"
    return (f"{what} (process {found.get('pid')} on {found.get('host')}, "
            f"since {found.get('since')})")


@contextmanager
def run_lock(home: Path, run_id: str) -> Iterator[None]:
    """Hold the run lock for ``run_id`` or raise ``RunLocked`` at once, naming the holder."""
    path = (home / LOCK_FILE).resolve()
    if path in _held:
        yield
        return
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunLocked(f"another run holds the run lock ({path}): {describe(holder(home))}; "
                            "this run published nothing (start it again when that run has "
                            "finished)") from None
        left = holder(home)
        if left and left.get("host") == socket.gethostname() and not alive(left):
            log.warning("took over the run lock left by %s, whose process is gone",
                        describe(left))
        mine = {"run_id": run_id, "host": socket.gethostname(),
                "since": datetime.now(UTC).isoformat(timespec="seconds"), **this_process()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(mine).encode(), 0)
        os.fsync(fd)
        _held[path] = run_id
        try:
            yield
        finally:
            del _held[path]
            os.ftruncate(fd, 0)  # released in order: nothing left to recover
    finally:
        os.close(fd)  # closing the descriptor releases the flock
