"""Runs that died without a word (``kill -9``, a power cut): found, recorded, cleaned up.

A run writes its record with status "running", its process id and that process's start time
as soon as it starts (and the temporary Prefect server's process id and the flow run id once
known). A later command that finds a "running" record whose process is gone records the run
as "crashed"; the next run also stops the temporary Prefect server the dead run left behind
(only after checking that the process really is that server) and marks the orphaned Prefect
flow run Crashed, which no one else would: Prefect leaves it RUNNING for ever.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from publish.report import RUN_FILE, read_run_record, write_run_record

log = logging.getLogger("databook.recovery")

#: What the temporary server's command line holds (prefect.server.api.server.SubprocessASGIServer).
SERVER_MARKERS = ("uvicorn", "prefect.server.api.server:create_app")


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22), which
    tells a live process from a new one that reused its id; None when there is no such process
    (or it is a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def this_process() -> dict[str, Any]:
    """The fields a "running" record carries about the process that runs it."""
    return {"pid": os.getpid(), "pid_start": process_start(os.getpid())}


def alive(record: dict[str, Any]) -> bool:
    pid = record.get("pid")
    if not isinstance(pid, int):
        return False
    started = process_start(pid)
    return started is not None and started == record.get("pid_start", started)


def _running(runs_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(runs_dir.glob(f"*/{RUN_FILE}")):
        try:
            record = read_run_record(path.parent)
        except (OSError, ValueError):
            continue
        if record.get("status") == "running":
            yield path.parent, record


def mark_crashed(runs_dir: Path) -> list[str]:
    """Record every "running" run whose process is gone as "crashed"; returns their ids."""
    crashed = []
    for folder, record in _running(runs_dir):
        if alive(record):
            continue
        record |= {"status": "crashed",
                   "error": "the run's process ended without finishing (killed, or the machine "
                            "stopped); nothing was published by it",
                   "flow_run_marked": False}
        write_run_record(runs_dir, folder.name, record)
        log.warning("run %s was left running by process %s, which is gone: recorded as crashed",
                    folder.name, record.get("pid"))
        crashed.append(folder.name)
    return crashed


def is_temporary_server(pid: int) -> bool:
    args = cmdline(pid)
    return all(any(marker in a for a in args) for marker in SERVER_MARKERS)


def stop_server(pid: int, wait_s: float = 10) -> bool:
    """Stop a temporary Prefect server left behind, if ``pid`` really is one; True if stopped."""
    if process_start(pid) is None or not is_temporary_server(pid):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_s
        while process_start(pid) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if process_start(pid) is not None:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def clean_up_after_crashes(runs_dir: Path) -> list[str]:
    """Before a run: record dead runs as crashed and stop the servers they left behind."""
    crashed = mark_crashed(runs_dir)
    for path in sorted(runs_dir.glob(f"*/{RUN_FILE}")):
        try:
            record = read_run_record(path.parent)
        except (OSError, ValueError):
            continue
        server = record.get("server_pid")
        if record.get("status") == "crashed" and isinstance(server, int) \
                and not record.get("server_stopped") and stop_server(server):
            log.warning("stopped the temporary Prefect server (process %d) left by run %s",
                        server, path.parent.name)
            write_run_record(runs_dir, path.parent.name, record | {"server_stopped": True})
    return crashed


def orphaned_flow_runs(runs_dir: Path) -> list[tuple[str, str]]:
    """(run id, Prefect flow run id) of crashed runs whose flow run is not yet marked."""
    found = []
    for path in sorted(runs_dir.glob(f"*/{RUN_FILE}")):
        try:
            record = read_run_record(path.parent)
        except (OSError, ValueError):
            continue
        if record.get("status") == "crashed" and record.get("flow_run_id") \
                and not record.get("flow_run_marked"):
            found.append((path.parent.name, str(record["flow_run_id"])))
    return found


def note_marked(runs_dir: Path, run_id: str) -> None:
    record = read_run_record(runs_dir / run_id)
    write_run_record(runs_dir, run_id, record | {"flow_run_marked": True})


def unannounced_crashes(runs_dir: Path) -> list[dict[str, Any]]:
    """The crashed runs (dead "running" records first recorded as crashed) that no later run
    has told anyone about yet, now noted as told: the next run says so first, once."""
    mark_crashed(runs_dir)
    found = []
    for path in sorted(runs_dir.glob(f"*/{RUN_FILE}")):
        try:
            record = read_run_record(path.parent)
        except (OSError, ValueError):
            continue
        if record.get("status") == "crashed" and not record.get("crash_announced"):
            write_run_record(runs_dir, path.parent.name, record | {"crash_announced": True})
            found.append(record)
    return found
