"""The nightly deployment, for real: prefect.yaml deployed to a real Prefect server, run by a
process worker, publishing a signed run folder."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from flows.nightly import nightly
from publish import manifest
from publish.drop import latest
from publish.keystore import Keystore
from publish.store import LocalStore
from tests.conftest import AS_AT, PREFECT, REPO, Council, clean_env, stop

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
    (deployment,) = spec["deployments"]
    module, name = deployment["entrypoint"].split(":")
    assert (module, name) == ("flows/nightly.py", nightly.fn.__name__)
    assert deployment["schedules"] == [{"cron": "0 2 * * *", "timezone": "Europe/London"}]
    assert spec["prefect-version"] == "3.8.8"
    assert deployment["parameters"]["as_at"] is None  # the run's own date
    assert deployment["parameters"]["drift_tolerance"] == 0.2
    assert all("git" not in str(step) for step in spec["pull"])  # nothing from the internet


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
