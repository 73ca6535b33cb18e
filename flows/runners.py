"""Where the per-school work runs, chosen per run: on this machine, or on an existing Dask
cluster through prefect-dask.

On this machine the batches fan out as Prefect tasks on a thread pool; with ``processes`` each
task hands its schools to one shared pool of worker processes (rendering holds the GIL), and
Prefect's own process task runner costs about 10 s of start-up on a 2-core machine
(each process imports Prefect) against about 1 s for a forkserver pool. On Dask the tasks
already run in the cluster's worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from publish.drop import PROCESSES_FROM_SCHOOLS, process_pool

KINDS = ("auto", "processes", "threads", "dask")


@contextmanager
def fan_out(kind: str, workers: int, dask_address: str | None = None,
            schools: int = 0) -> Iterator[tuple[TaskRunner[PrefectFuture[Any]], Executor | None]]:
    """The task runner for the batches, and the process pool their tasks use, if any."""
    if kind == "auto":
        kind = "processes" if schools >= PROCESSES_FROM_SCHOOLS and workers > 1 else "threads"
    runner: Any
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if not dask_address:
            raise ValueError("the dask task runner needs --dask-address tcp://host:port")
        runner = DaskTaskRunner(address=dask_address)
        yield runner, None
    elif kind == "threads":
        runner = ThreadPoolTaskRunner(max_workers=workers)
        yield runner, None
    elif kind == "processes":
        runner = ThreadPoolTaskRunner(max_workers=workers)
        with process_pool(workers) as pool:
            yield runner, pool
    else:
        raise ValueError(f"unknown task runner {kind!r}; choose one of {', '.join(KINDS)}")
