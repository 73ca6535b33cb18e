"""The schedule fires: prefect.yaml deployed as a council deploys it to a
long-running Prefect server, whose own scheduler creates the runs, and a worker runs the one
that falls due and publishes a signed run. Nothing here asks Prefect to run anything now."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from databook.drop import latest
from databook.store import LocalStore
from publish import manifest
from publish.keystore import Keystore
from tests.support import AS_AT, PREFECT, REPO, Council, PrefectServer, clean_env, stop

pytestmark = pytest.mark.prefect

POOL = "databook"
FIRES_SOON = "fires-soon"


def prefect(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([PREFECT, "--no-prompt", *args], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def api(server: PrefectServer, path: str, body: dict[str, Any] | None = None) -> Any:
    response = httpx.post(f"{server.url}/{path}", json=body or {}, timeout=30)
    response.raise_for_status()
    return response.json()


def deployments(server: PrefectServer) -> dict[str, str]:
    """Deployment name -> id."""
    return {d["name"]: d["id"] for d in api(server, "deployments/filter")}


def flow_runs(server: PrefectServer, deployment_id: str) -> list[dict[str, Any]]:
    return list(api(server, "flow_runs/filter",
                    {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}))


def _scheduled(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs the server's scheduler made, still waiting for their time."""
    return [r for r in runs if r["auto_scheduled"] and r["state_type"] == "SCHEDULED"]


def _copy(server: PrefectServer, name: str, new_name: str, parameters: dict[str, Any],
          schedule: dict[str, Any]) -> None:
    """Create ``new_name``: deployment ``name`` of the nightly flow with another schedule."""
    response = httpx.get(f"{server.url}/deployments/name/nightly-databook/{name}", timeout=30)
    response.raise_for_status()
    d = response.json()
    keep = ("flow_id", "entrypoint", "path", "work_pool_name", "work_queue_name", "pull_steps",
            "parameter_openapi_schema", "enforce_parameter_schema", "job_variables")
    api(server, "deployments/", {k: d[k] for k in keep} | {
        "name": new_name, "parameters": d["parameters"] | parameters,
        "schedules": [{"schedule": schedule, "active": True}]})


@pytest.fixture
def officer(prefect_server: PrefectServer, council: Council,
            tmp_path: Path) -> Iterator[dict[str, str]]:
    """An MI officer's shell on the nightly host; the deployments are removed afterwards so the
    session's server schedules nothing more for the tests that follow."""
    env = clean_env(PREFECT_API_URL=prefect_server.url, PREFECT_HOME=str(tmp_path / "prefect"),
                    DATABOOK_HOME=str(tmp_path / "home"), DATABOOK_SOURCE_URL=council.case_url,
                    DATABOOK_ROLL_URL=council.roll_url, DATABOOK_CODE_DIR=str(REPO),
                    PREFECT_WORKER_QUERY_SECONDS="2", PREFECT_WORKER_PREFETCH_SECONDS="5")
    try:
        yield env
    finally:
        spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
        ours = {d["name"] for d in spec["deployments"]} | {FIRES_SOON}
        for name, deployment_id in deployments(prefect_server).items():
            if name in ours:
                httpx.delete(f"{prefect_server.url}/deployments/{deployment_id}", timeout=30)


def test_the_server_schedules_every_deployment_and_a_worker_publishes_the_run_due(
        prefect_server: PrefectServer, officer: dict[str, str], tmp_path: Path) -> None:
    began = time.monotonic()
    log_from = prefect_server.log.stat().st_size
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    names = [d["name"] for d in spec["deployments"]]

    prefect("work-pool", "create", POOL, "--type", "process", "--overwrite", env=officer)
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", POOL], env=officer,
                              cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        prefect("deploy", "--all", env=officer)
        # The nightly deployment as deployed, again under another name, on a schedule that
        # falls due within the test: the worker must pick it up by itself.
        due = datetime.now(UTC) + timedelta(seconds=15)
        _copy(prefect_server, "nightly", FIRES_SOON, {"as_at": AS_AT.isoformat()},
              {"interval": 3600, "anchor_date": due.isoformat(), "timezone": "UTC"})
        deployed = deployments(prefect_server)
        assert set(names) | {FIRES_SOON} <= set(deployed)
        deadline = time.monotonic() + 150
        while True:
            runs = {name: flow_runs(prefect_server, deployed[name]) for name in deployed}
            done = [r for r in runs[FIRES_SOON] if r["state_type"] in ("COMPLETED", "FAILED",
                                                                      "CRASHED")]
            if done and all(_scheduled(runs[name]) for name in names):
                break
            assert time.monotonic() < deadline, (
                f"{ {n: [r['state_type'] for r in rs] for n, rs in runs.items()} }\n"
                + (tmp_path / "worker.log").read_text()[-3000:]
                + prefect_server.log.read_text()[log_from:][-3000:])
            time.sleep(2)
    finally:
        stop(worker)
        log.close()

    # (a) the scheduler made the council's own runs, at their own times, for every deployment
    for name in names:
        assert _scheduled(runs[name]), f"no run scheduled for {name}"
    # (b) the run that fell due was run by the worker, unprompted, and published a signed run
    (ran,) = done
    assert ran["state_type"] == "COMPLETED", (tmp_path / "worker.log").read_text()[-3000:]
    assert ran["auto_scheduled"]
    assert abs(datetime.fromisoformat(ran["expected_start_time"]) - due) < timedelta(seconds=1)
    home = Path(officer["DATABOOK_HOME"])
    store = LocalStore(home / "drop")
    run_id = latest(store)
    assert run_id is not None
    document = manifest.verify(store, run_id, Keystore.open(home).public_keys())
    assert document["as_at"] == AS_AT.isoformat() and len(document["schools"]) == 11
    # and the server said nothing wrong meanwhile (SQLAlchemy 2.1 made its scheduler fail
    # every loop with a traceback, and no run was ever created)
    server_log = prefect_server.log.read_text()[log_from:]
    assert "Traceback" not in server_log and not re.search(r"\| (ERROR|CRITICAL) ", server_log), (
        server_log[-3000:])
    print(f"schedule test took {time.monotonic() - began:.1f} s")
