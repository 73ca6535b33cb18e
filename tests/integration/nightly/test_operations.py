"""What an MI officer relies on between nights: alerts for failed or blocked runs, a rerun of
the same date giving the same databooks, the same output from a Dask cluster, and retries
of a dropped database connection. All through the real command against a real Prefect
server."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import socket
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet

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
)

pytestmark = pytest.mark.prefect


class Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Webhook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


class Inbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(envelope.content.decode())
        return "250 OK"


@pytest.fixture
def receivers() -> Iterator[tuple[str, str, Inbox]]:
    http = HTTPServer(("127.0.0.1", free_port()), Webhook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    Webhook.received = []
    try:
        yield (f"http://127.0.0.1:{http.server_port}/hook", f"smtp://127.0.0.1:{smtp_port}",
               inbox)
    finally:
        controller.stop()
        http.shutdown()


def officer(prefect_api: str, home: Path, **extra: str) -> dict[str, str]:
    # A nightly host with no portal: its witness is off, so the run's own alert is the only one.
    return clean_env(PREFECT_API_URL=prefect_api, PREFECT_HOME=str(home / "prefect"),
                     DATABOOK_HOME=str(home), DATABOOK_PORTAL_WITNESS="false", **extra)


def test_a_blocked_run_alerts_by_webhook_and_email_without_childrens_details(
        prefect_api: str, council: Council, receivers: tuple[str, str, Inbox],
        tmp_path: Path) -> None:
    hook, smtp, inbox = receivers
    case = tmp_path / "case.sqlite"
    shutil.copy(council.case_path, case)
    with sqlite3.connect(case) as con:
        con.execute("ALTER TABLE DM_PERSONS RENAME TO P0")
        con.execute("CREATE TABLE DM_PERSONS AS SELECT * FROM P0")
        con.execute("INSERT INTO DM_PERSONS SELECT * FROM P0 LIMIT 1")
        names = [f"{a} {b}" for a, b in con.execute("SELECT FIRST_NAME, LAST_NAME FROM P0")]
    env = officer(prefect_api, tmp_path / "home", DATABOOK_ALERT_WEBHOOK=hook,
                  DATABOOK_ALERT_SMTP=smtp, DATABOOK_ALERT_EMAIL_TO="mi-team@council.example")
    done = databook("run", "--as-at", AS_AT.isoformat(), "--source-url", f"sqlite:///{case}",
                    "--roll-url", council.roll_url, env=env)
    assert done.returncode == 3, done.stderr[-2000:]
    (posted,) = Webhook.received
    (raw,) = inbox.messages
    mail = email.message_from_string(raw, policy=email.policy.default)
    body = mail.get_content() if not mail.is_multipart() else str(mail)
    assert posted["status"] == "blocked" and posted["report"].endswith("report.html")
    assert "expect_column_values_to_be_unique(PERSON_ID)" in posted["text"]
    assert mail["To"] == "mi-team@council.example" and mail["Subject"].endswith("BLOCKED")
    assert posted["report"] in body and "expect_column_values_to_be_unique" in body
    for name in names:
        assert name not in posted["text"] and name not in raw and name not in body


def test_a_rerun_of_the_same_date_on_dask_publishes_the_same_databooks(
        prefect_api: str, council: Council, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from distributed import LocalCluster

    home = tmp_path / "home"
    env = officer(prefect_api, home, DATABOOK_SOURCE_URL=council.case_url,
                  DATABOOK_ROLL_URL=council.roll_url)
    first = databook("run", "--as-at", AS_AT.isoformat(), "--task-runner", "processes",
                     env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)  # the Dask workers report task runs
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        second = databook("run", "--as-at", AS_AT.isoformat(), "--task-runner", "dask",
                          "--dask-address", str(cluster.scheduler_address), env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    second_id = Path(second.stdout.strip().splitlines()[-1]).name
    second_log = (home / "runs" / second_id / "run.log").read_text()
    assert "dask" in second_log.lower()  # the batches really went to the cluster

    store, keys = LocalStore(home / "drop"), Keystore.open(home)
    folders = [Path(r.stdout.strip().splitlines()[-1]) for r in (first, second)]
    assert folders[0] != folders[1]
    docs = [manifest.verify(store, f.name, keys.public_keys()) for f in folders]
    stable = [[{k: v for k, v in s.items() if k not in ("sha256", "bytes", "lookup_sha256")}
               for s in d["schools"]] for d in docs]
    assert stable[0] == stable[1]
    assert docs[0]["totals"] == docs[1]["totals"] and docs[0]["source"] == docs[1]["source"]
    for school in docs[0]["schools"]:
        sheets = [open_encrypted((f / school["file"]).read_bytes(),
                                 keys.password(school["urn"]))[0] for f in folders]
        assert sheet_values(sheets[0], "Databook") == sheet_values(sheets[1], "Databook")
        about = [[r for r in sheet_values(s, "About")
                  if r[0] not in ("Run", "Extracted at", "Compared with")] for s in sheets]
        assert about[0] == about[1]


class Flaky:
    """A TCP proxy to PostgreSQL that drops the first ``drops`` connections, as a network
    blip or a database failover would."""

    def __init__(self, drops: int) -> None:
        self.drops, self.accepted = drops, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted <= self.drops:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", 5432))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            target.close()


@pytest.mark.postgres
def test_a_dropped_connection_is_retried_and_the_run_publishes(
        prefect_api: str, pg_url: str, council: Council, tmp_path: Path) -> None:
    from demo import DemoSize, generate

    generate(pg_url, pg_url, DemoSize(schools=5, pupils=400, as_at=AS_AT))
    proxy = Flaky(drops=2)  # the pre-flight check, then the first extract attempt
    flaky_url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    env = officer(prefect_api, tmp_path / "home", DATABOOK_RETRY_DELAYS="1,1",
                  DATABOOK_MASTER_KEY=Fernet.generate_key().decode())  # a database server's
    done = databook("run", "--as-at", AS_AT.isoformat(), "--source-url", flaky_url,
                    "--roll-url", pg_url, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "the run will retry it" in done.stderr
    assert "temporary server" not in done.stderr  # it ran against a running server
    # Prefect's own retry message goes to the run's log, not to the officer's terminal.
    assert "Retry 1/2 will start" not in done.stderr
    run_logs = list((tmp_path / "home" / "runs").glob("*/run.log"))
    assert any("Retry 1/2 will start" in log.read_text() for log in run_logs)
    assert proxy.accepted >= 3


def test_a_late_nightly_run_alerts_through_a_prefect_automation(
        prefect_api: str, receivers: tuple[str, str, Inbox], tmp_path: Path) -> None:
    """No worker picks the run up; the server marks it Late and the automation posts."""
    import time
    from datetime import UTC, datetime, timedelta

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Scheduled

    from flows.nightly import nightly

    hook, _, _ = receivers
    env = officer(prefect_api, tmp_path / "home", DATABOOK_ALERT_WEBHOOK=hook)
    installed = databook("alerts", "install-late", env=env)
    assert installed.returncode == 0, installed.stderr[-2000:]
    with temporary_settings({PREFECT_API_URL: prefect_api}), get_client(
            sync_client=True) as client:
        client.create_flow_run(nightly, state=Scheduled(
            scheduled_time=datetime.now(UTC) - timedelta(minutes=1)))
    deadline = time.monotonic() + 90
    while not Webhook.received and time.monotonic() < deadline:
        time.sleep(0.5)
    (posted,) = Webhook.received
    assert posted["status"] == "late" and "has not started" in posted["text"]
