"""A tampered, missing or unsigned file is never served, and the council hears about it on its
real alert channel (a webhook receiver on 127.0.0.1): school URN, run id and what failed,
nothing else; once per failure, while every attempt is still its own ledger entry."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from portal.served import ServedFile
from tests.support import Env, add_user, download, entries, free_port, make_env, sign_in

A = 100001


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def hook_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", free_port()), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hook.received = []
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts"
    finally:
        server.shutdown()


def wait_for(count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Alerts are sent off the request thread; give them a moment to arrive."""
    deadline = time.monotonic() + timeout
    while len(Hook.received) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # and make sure no extra one follows
    return list(Hook.received)


def test_tampered_missing_and_unsigned_files_alert_the_council(tmp_path: Path,
                                                               hook_url: str) -> None:
    env: Env = make_env(tmp_path, DATABOOK_ALERT_WEBHOOK=hook_url)
    secret = add_user(env, "ann.lead@alder.example", [A])
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as client:
        sign_in(client, env, "ann.lead@alder.example", secret)
        assert download(client, A).status_code == 200
        assert wait_for(1, timeout=1) == []  # a good download alerts nobody

        path = env.drop / env.run_id / f"{A}.xlsx"
        original = path.read_bytes()
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        got = download(client, A)  # the form still shows (the run verified earlier)...
        assert got.status_code == 503 and got.content != original  # ...the file never goes
        for _ in range(2):  # three attempts in all: three ledger entries, one alert
            assert client.get(f"/schools/{A}/download").status_code == 503
        [tampered] = wait_for(1)

        path.write_bytes(original)
        assert download(client, A).status_code == 200
        path.unlink()
        assert download(client, A).status_code == 503
        tampered_again, missing = wait_for(2)
        assert tampered_again == tampered

        path.write_bytes(original)
        (env.drop / env.run_id / "manifest.json.sig").unlink()
        page = client.get(f"/schools/{A}")  # the school page says the council was told
        assert page.status_code == 200 and "council has been told" in page.text
        assert client.get(f"/schools/{A}/download").status_code == 503
        *_, unsigned = wait_for(3)
        assert len(Hook.received) == 3

    for alert, failed in ((tampered, "does not match the council's signature"),
                          (missing, "missing from the run"),
                          (unsigned, "no signed manifest")):
        assert alert["run_id"] == env.run_id and alert["status"] == "refused"
        assert f"school {A}" in alert["text"] and failed in alert["text"]
        assert "ann.lead" not in json.dumps(alert)  # who tried is in the ledger, not the alert
        assert "Alder" not in json.dumps(alert)
    refused = [r for r in entries(env, "refused") if r.get("status") == 503]
    assert [r["what"] for r in refused] == ["tampered"] * 3 + ["missing", "unsigned"]
    assert all(r["run_id"] == env.run_id and r["urn"] == A for r in refused)
    assert len(entries(env, "download")) == 2


def test_updated_at_is_shown_in_the_schools_own_time() -> None:
    file = ServedFile("r", "2026-07-01", "2026-07-01T01:00:00Z", A, "Alder", "f", 1, "x", 0,
                      updated_at="2026-07-01T10:05:00Z")
    assert file.updated_label(datetime(2026, 7, 1, 12, tzinfo=UTC)) == "updated at 11:05am today"
    assert file.updated_label(datetime(2026, 7, 2, 12, tzinfo=UTC)) == \
        "updated at 11:05am on 1 July 2026"
    winter = ServedFile("r", "", "", A, "", "f", 1, "x", 0, updated_at="2026-12-01T10:05:00Z")
    assert winter.updated_label(datetime(2026, 12, 1, 12, tzinfo=UTC)) == \
        "updated at 10:05am today"
    assert ServedFile("r", "", "", A, "", "f", 1, "x", 0).updated_label() == ""
