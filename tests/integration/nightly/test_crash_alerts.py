"""Every failure reaches a person: a run killed under a worker (``kill -9`` of its flow
process, as the OOM killer does) is alerted by the Prefect automations `databook alerts
install` made, on a real webhook receiver and a real SMTP sink, within 60 s; and the next run
says so first."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from publish.report import RUN_FILE, read_run_record
from tests.integration.nightly.operated import (
    Receivers,
    api,
    flow_run,
    nightly_deployment,
    receivers,
    worker,
)
from tests.support import AS_AT, REPO, Council, clean_env, databook, free_port

pytestmark = pytest.mark.prefect


def _records(home: Path) -> list[dict[str, Any]]:
    return [read_run_record(p.parent) for p in sorted((home / "runs").glob(f"*/{RUN_FILE}"))]


def _crashed(run_id: str) -> Any:
    def found(got: Receivers) -> bool:
        return any(p["status"] == "crashed" and run_id in p["text"] for p in got.posted) \
            and any("CRASHED" in m and run_id in m for m in got.mails)
    return found


def test_a_killed_run_is_alerted_by_webhook_and_email_and_the_next_run_says_so_first(
        prefect_api: str, council: Council, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with receivers() as got:
        env = clean_env(PREFECT_API_URL=prefect_api, PREFECT_HOME=str(tmp_path / "prefect"),
                        DATABOOK_HOME=str(home), DATABOOK_SOURCE_URL=council.case_url,
                        DATABOOK_ROLL_URL=council.roll_url, DATABOOK_CODE_DIR=str(REPO),
                        DATABOOK_ALERT_WEBHOOK=got.webhook, DATABOOK_ALERT_SMTP=got.smtp,
                        DATABOOK_ALERT_EMAIL_TO="mi-team@council.example",
                        DATABOOK_PORTAL_WITNESS="false",  # no portal here: no witness alert
                        PREFECT_WORKER_QUERY_SECONDS="2")
        installed = databook("alerts", "install", env=env)
        assert installed.returncode == 0, installed.stderr[-2000:]
        assert [line.split()[0] for line in installed.stdout.splitlines()[:3]] == [
            "databook-late-run", "databook-failed-run", "databook-crashed-run"]
        with worker(env, tmp_path) as pool:
            deployment = nightly_deployment(prefect_api, pool, "crash-test",
                                            {"as_at": AS_AT.isoformat()})
            first = api(prefect_api, f"deployments/{deployment}/create_flow_run")["id"]
            deadline = time.monotonic() + 180
            while not (running := [r for r in _records(home) if r["status"] == "running"]):
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
                time.sleep(0.2)
            (victim,) = running
            os.kill(victim["pid"], signal.SIGKILL)  # the flow run's own process
            killed = time.monotonic()
            assert got.wait(_crashed(str(flow_run(prefect_api, first)["name"])), 60), (
                got.posted, got.mails, flow_run(prefect_api, first)["state"])
            took = time.monotonic() - killed
            assert flow_run(prefect_api, first)["state_type"] == "CRASHED"

            # The next run, on the same host: its first words, and an alert, are the crash.
            got.posted.clear()
            got.mails.clear()
            second = api(prefect_api, f"deployments/{deployment}/create_flow_run")["id"]
            deadline = time.monotonic() + 240
            while flow_run(prefect_api, second)["state_type"] not in ("COMPLETED", "FAILED",
                                                                       "CRASHED"):
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-3000:]
                time.sleep(1)
            assert flow_run(prefect_api, second)["state_type"] == "COMPLETED"
    records = {r["run_id"]: r for r in _records(home)}
    assert records[victim["run_id"]]["status"] == "crashed"
    (after,) = [r for r in records.values() if r["status"] == "published"]
    said = (home / "runs" / after["run_id"] / "run.log").read_text()
    first_line = said.splitlines()[0]
    assert victim["run_id"] in first_line and "crashed" in first_line, first_line
    assert f"the previous run {victim['run_id']} crashed" in said
    assert [p.get("run_id") for p in got.posted if p["status"] == "crashed"] == [victim["run_id"]]
    (mail,) = [email.message_from_string(m, policy=email.policy.default) for m in got.mails]
    assert victim["run_id"] in mail["Subject"] and mail["Subject"].endswith("CRASHED")
    print(f"crash alert arrived {took:.1f} s after kill -9")


def test_alerts_install_needs_a_prefect_server_that_answers(tmp_path: Path) -> None:
    env = clean_env(PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api",
                    DATABOOK_HOME=str(tmp_path / "home"),
                    DATABOOK_ALERT_WEBHOOK="http://127.0.0.1:9/hook")
    done = databook("alerts", "install", env=env)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("databook: error: cannot reach the Prefect API at http://127.0.0.1:")
    assert "make prefect-server" in line


def test_alerts_install_needs_a_channel(tmp_path: Path) -> None:
    env = clean_env(PREFECT_API_URL=f"http://127.0.0.1:{free_port()}/api",
                    DATABOOK_HOME=str(tmp_path / "home"))
    done = databook("alerts", "install", env=env)
    assert done.returncode == 1
    assert done.stderr.strip() == ("databook: error: no alert channel is configured: set "
                                   "DATABOOK_ALERT_WEBHOOK and/or DATABOOK_ALERT_SMTP with "
                                   "DATABOOK_ALERT_EMAIL_TO")
