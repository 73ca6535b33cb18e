"""What the operated-host tests share: a real webhook receiver and a real SMTP sink, the
Prefect server's REST API, and a process worker on a pool of its own."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from tests.support import PREFECT, REPO, free_port, stop


@dataclass
class Receivers:
    """A webhook receiver and an SMTP sink, both real servers on 127.0.0.1."""

    webhook: str
    smtp: str
    posted: list[dict[str, Any]] = field(default_factory=list)
    mails: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.mails.append(envelope.content.decode())
        return "250 OK"

    def wait(self, found: Callable[[Receivers], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not found(self):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True


@contextmanager
def receivers() -> Iterator[Receivers]:
    got = Receivers("", "")

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            got.posted.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    http = HTTPServer(("127.0.0.1", free_port()), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    smtp_port = free_port()
    controller = Controller(got, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    got.webhook = f"http://127.0.0.1:{http.server_port}/hook"
    got.smtp = f"smtp://127.0.0.1:{smtp_port}"
    try:
        yield got
    finally:
        controller.stop()
        http.shutdown()


def api(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """POST to the Prefect server's API; a 503 (its SQLite database busy, on a loaded
    machine) is tried again, as Prefect's own client does."""
    for _ in range(10):
        response = httpx.post(f"{url}/{path}", json=body or {}, timeout=30)
        if response.status_code != 503:
            break
        time.sleep(1)
    response.raise_for_status()
    return response.json()


def flow_run(url: str, flow_run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/flow_runs/{flow_run_id}", timeout=30)
    response.raise_for_status()
    return dict(response.json())


def nightly_deployment(url: str, pool: str, name: str, parameters: dict[str, Any]) -> str:
    """The nightly flow deployed (through the REST API, in a moment) to ``pool``, run from this
    checkout as prefect.yaml's pull step does; returns its id."""
    flow_id = api(url, "flows/", {"name": "nightly-databook"})["id"]
    return str(api(url, "deployments/", {
        "name": name, "flow_id": flow_id, "entrypoint": "flows/nightly.py:nightly",
        "work_pool_name": pool, "parameters": parameters, "enforce_parameter_schema": False,
        "pull_steps": [{"prefect.deployments.steps.set_working_directory": {
            "directory": str(REPO)}}]})["id"])


@contextmanager
def worker(env: dict[str, str], folder: Path) -> Iterator[str]:
    """A process worker on a new pool of its own; yields the pool's name."""
    pool = f"databook-{uuid.uuid4().hex[:8]}"
    made = subprocess.run([PREFECT, "work-pool", "create", pool, "--type", "process"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    log = (folder / "worker.log").open("wb")
    process = subprocess.Popen([PREFECT, "worker", "start", "--pool", pool], env=env,
                               cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        yield pool
    finally:
        stop(process)
        log.close()
