"""The nightly run on a real Dask cluster, as a council runs one: a ``dask scheduler`` and two
``dask worker`` processes started here as commands on free loopback ports (not a LocalCluster
inside the test), the flow's per-school batches sent to them through prefect-dask's
``DaskTaskRunner`` with the scheduler's address, and the same databooks as the default runner.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from databook.store import LocalStore
from publish import manifest
from publish.keystore import Keystore
from tests.support import (
    AS_AT,
    Council,
    clean_env,
    databook,
    free_port,
    open_encrypted,
    sheet_values,
    stop,
)

pytestmark = pytest.mark.prefect
DASK = str(Path(sys.executable).parent / "dask")


def executed(address: str) -> dict[str, int]:
    """Tasks each worker of the cluster has run, by worker address."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        counts: dict[str, int] = client.run(
            lambda dask_worker: dask_worker.state.executed_count)
        return counts


@pytest.fixture
def cluster(prefect_api: str, tmp_path: Path) -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes; yields the scheduler address."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    # The workers report their task runs to the same Prefect server as the flow.
    env = clean_env(PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "worker-prefect"))
    logs = [(tmp_path / f"dask-{n}.log").open("wb") for n in ("scheduler", "w1", "w2")]
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=logs[0],
                              stderr=subprocess.STDOUT, start_new_session=True)]
    try:
        for i, name in enumerate(("w1", "w2"), 1):
            procs.append(subprocess.Popen(
                [DASK, "worker", address, "--name", name, "--host", "127.0.0.1",
                 "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                 "--local-directory", str(tmp_path / f"dask-{name}")],
                env=env, stdout=logs[i], stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 120
        while True:
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=60)
                break
            except (OSError, TimeoutError):
                assert all(p.poll() is None for p in procs), (
                    tmp_path / "dask-scheduler.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the Dask cluster did not start"
                time.sleep(1)
        yield address
    finally:
        for proc in reversed(procs):
            stop(proc)
        for log in logs:
            log.close()


def published(home: Path, folder: Path) -> dict[str, Any]:
    keys = Keystore.open(home)
    return manifest.verify(LocalStore(home / "drop"), folder.name, keys.public_keys())


def test_a_real_dask_cluster_publishes_what_the_default_runner_publishes(
        prefect_api: str, council: Council, cluster: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = clean_env(PREFECT_API_URL=prefect_api, PREFECT_HOME=str(home / "prefect"),
                    DATABOOK_HOME=str(home), DATABOOK_SOURCE_URL=council.case_url,
                    DATABOOK_ROLL_URL=council.roll_url)
    default = databook("run", "--as-at", AS_AT.isoformat(), env=env)
    assert default.returncode == 0, default.stderr[-2000:]
    before = executed(cluster)
    on_dask = databook("run", "--as-at", AS_AT.isoformat(), "--task-runner", "dask",
                       "--dask-address", cluster, env=env)
    assert on_dask.returncode == 0, on_dask.stderr[-2000:]

    after = executed(cluster)
    ran = {worker: after[worker] - before.get(worker, 0) for worker in after}
    assert len(ran) == 2 and all(n > 0 for n in ran.values()), ran  # both workers rendered

    folders = [Path(r.stdout.strip().splitlines()[-1]) for r in (default, on_dask)]
    assert folders[0] != folders[1]
    docs = [published(home, f) for f in folders]
    stable = [[{k: v for k, v in s.items()
                if k not in ("sha256", "bytes", "lookup_sha256", "lookup_bytes")}
               for s in d["schools"]] for d in docs]
    assert stable[0] == stable[1] and len(stable[0]) > 1
    assert docs[0]["totals"] == docs[1]["totals"] and docs[0]["source"] == docs[1]["source"]
    keys = Keystore.open(home)
    for school in docs[0]["schools"]:
        books = [open_encrypted((f / school["file"]).read_bytes(),
                                keys.password(school["urn"]))[0] for f in folders]
        assert sheet_values(books[0], "Databook") == sheet_values(books[1], "Databook")
        about = [[r for r in sheet_values(b, "About")
                  if r[0] not in ("Run", "Extracted at", "Compared with")] for b in books]
        assert about[0] == about[1]
