"""The nightly deployment, for real: prefect.yaml deployed to a real Prefect server, run by a
process worker, publishing a signed run folder."""

from __future__ import annotations

import inspect
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from databook.drop import latest
from databook.store import LocalStore
from flows.nightly import nightly
from publish import manifest
from publish.keystore import Keystore
from tests.support import AS_AT, PREFECT, REPO, Council, clean_env, stop

pytestmark = pytest.mark.prefect


def test_a_dropped_connection_is_retried_and_a_missing_table_is_not() -> None:
    from prefect.states import Completed, Failed

    from extract import SourceError
    from flows.nightly import _transient, extract_sources

    def retried(exc: Exception) -> bool:
        return _transient(extract_sources, None, Failed(data=exc))  # type: ignore[arg-type]

    assert retried(SourceError("cannot connect to the case database", transient=True))
    assert not retried(SourceError("the case database has no table X"))
    assert not retried(ValueError("a bug"))
    assert not _transient(extract_sources, None, Completed())  # type: ignore[arg-type]


def test_deployment_names_the_nightly_flow_on_a_london_schedule() -> None:
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    deployment = _deployment(spec, "nightly")
    module, name = deployment["entrypoint"].split(":")
    assert (module, name) == ("flows/nightly.py", nightly.fn.__name__)
    assert deployment["schedules"] == [{"cron": "0 2 * * *", "timezone": "Europe/London"}]
    assert spec["prefect-version"] == "3.8.8"
    assert deployment["parameters"]["as_at"] is None  # the run's own date
    assert deployment["parameters"]["drift_tolerance"] == 0.2
    assert all("git" not in str(step) for step in spec["pull"])  # nothing from the internet
    assert "changed_only" not in deployment["parameters"]  # the nightly run is a full run


def _deployment(spec: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [d for d in spec["deployments"] if d["name"] == name]
    return cast(dict[str, Any], found)


def test_changed_only_deployment_runs_hourly_on_london_weekdays() -> None:
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    hourly, nightly_run = _deployment(spec, "changed-only"), _deployment(spec, "nightly")
    assert [d["name"] for d in spec["deployments"]] == ["nightly", "changed-only",
                                                         "uncollected-alert",
                                                         "data-quality-summary"]
    assert hourly["entrypoint"] == nightly_run["entrypoint"]
    assert hourly["schedules"] == [{"cron": "0 9-17 * * 1-5", "timezone": "Europe/London"}]
    assert hourly["parameters"]["changed_only"] is True
    assert hourly["work_pool"] == nightly_run["work_pool"]
    assert "changed_only" in inspect.signature(nightly.fn).parameters


def test_uncollected_alert_runs_at_half_past_eight_on_london_weekdays() -> None:
    from prefect.flows import load_flow_from_entrypoint

    from flows.collection import uncollected_alert

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    alert, nightly_run = _deployment(spec, "uncollected-alert"), _deployment(spec, "nightly")
    assert alert["schedules"] == [{"cron": "30 8 * * 1-5", "timezone": "Europe/London"}]
    assert alert["work_pool"] == nightly_run["work_pool"]
    assert not alert.get("parameters")  # nothing for Prefect to store
    loaded: Any = load_flow_from_entrypoint(str(REPO / alert["entrypoint"]))
    assert loaded.name == uncollected_alert.name == "uncollected-databooks"


@pytest.fixture
def officer(prefect_api: str, council: Council, tmp_path: Path) -> dict[str, str]:
    """An MI officer's shell: the server's URL, the council's sources, a state folder."""
    return clean_env(PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect"),
                     DATABOOK_HOME=str(tmp_path / "home"), DATABOOK_SOURCE_URL=council.case_url,
                     DATABOOK_ROLL_URL=council.roll_url, DATABOOK_CODE_DIR=str(REPO))


def prefect(*args: str, env: dict[str, str],
            timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PREFECT, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture
def worker(officer: dict[str, str], tmp_path: Path) -> Iterator[str]:
    pool = f"databook-{uuid.uuid4().hex[:8]}"
    made = prefect("work-pool", "create", pool, "--type", "process", env=officer)
    assert made.returncode == 0, made.stdout + made.stderr
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen([PREFECT, "worker", "start", "--pool", pool], env=officer,
                               cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        yield pool
    finally:
        stop(process)
        log.close()


def test_the_scheduled_deployment_runs_on_a_worker_and_publishes_a_signed_run(
        officer: dict[str, str], worker: str, tmp_path: Path) -> None:
    deployed = prefect("--no-prompt", "deploy", "--name", "nightly", "--pool", worker,
                       env=officer)
    assert deployed.returncode == 0, deployed.stdout[-2000:] + deployed.stderr[-2000:]
    triggered = prefect("deployment", "run", "nightly-databook/nightly", "--param",
                        f"as_at={AS_AT.isoformat()}", "--watch", "--watch-timeout", "240",
                        env=officer)
    assert "Completed" in triggered.stdout, triggered.stdout[-3000:] + triggered.stderr[-2000:]
    home = Path(officer["DATABOOK_HOME"])
    store = LocalStore(home / "drop")
    run_id = latest(store)
    assert run_id is not None
    document = manifest.verify(store, run_id, Keystore.open(home).public_keys())
    assert document["as_at"] == AS_AT.isoformat() and len(document["schools"]) == 11
    listed = subprocess.run([str(Path(PREFECT).parent / "databook"), "runs"], env=officer,
                            capture_output=True, text=True, check=True).stdout
    assert run_id in listed and "published" in listed
