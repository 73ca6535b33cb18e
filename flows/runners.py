"""Where the per-school work runs: local processes (the default), threads, or an existing Dask
cluster through prefect-dask. The choice is made per run, not baked into the flow."""

from __future__ import annotations

from typing import Any

from prefect.futures import PrefectFuture
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

KINDS = ("auto", "processes", "threads", "dask")

#: Below this many schools, starting worker processes (about 5 s on 2 cores) costs more than
#: it saves: each file's encryption is about 60 ms of single-threaded password hashing.
PROCESSES_FROM_SCHOOLS = 150


def task_runner(kind: str, workers: int, dask_address: str | None = None,
                schools: int = 0) -> TaskRunner[PrefectFuture[Any]]:
    runner: Any
    if kind == "auto":
        kind = "processes" if schools >= PROCESSES_FROM_SCHOOLS and workers > 1 else "threads"
    if kind == "processes":
        runner = ProcessPoolTaskRunner(max_workers=workers)
    elif kind == "threads":
        runner = ThreadPoolTaskRunner(max_workers=workers)
    elif kind == "dask":
        from prefect_dask import DaskTaskRunner

        if not dask_address:
            raise ValueError("the dask task runner needs --dask-address tcp://host:port")
        runner = DaskTaskRunner(address=dask_address)
    else:
        raise ValueError(f"unknown task runner {kind!r}; choose one of {', '.join(KINDS)}")
    return runner
