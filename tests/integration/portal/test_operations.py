"""What operators of the portal host rely on: liveness and readiness endpoints, an access log
that holds no query string and no reason, ``databook --version``, and state folders that are
owner-only from the first ``portal trust-key``."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from databook.cli import main
from databook.settings import load
from portal.app import create_app
from portal.config import PortalHostSettings
from tests.support import Env, add_user, download, sign_in

A = 100001


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").text == "ok\n"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.text == "ready\n"


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    settings = load(PortalHostSettings, environ={
        "DATABOOK_HOME": str(tmp_path / "home"),
        "DATABOOK_PORTAL_DATABASE_URL":
            "postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2"})
    with TestClient(create_app(settings), base_url="https://testserver") as unready:
        assert unready.get("/healthz").status_code == 200  # alive ...
        got = unready.get("/readyz")  # ... but not ready
        assert got.status_code == 503 and got.text == "database unavailable\n"


def test_the_access_log_has_no_query_strings_and_no_reasons(
        client: TestClient, env: Env, caplog: pytest.LogCaptureFixture) -> None:
    secret = add_user(env, "ann.lead@alder.example", [A])
    with caplog.at_level(logging.INFO, logger="databook.portal.access"):
        sign_in(client, env, "ann.lead@alder.example", secret)
        client.get("/signin?email=ann.lead%40alder.example&token=s3cr3t")
        assert download(client, A, reason="other",
                        reason_text="Core group meeting about a named child").status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "databook.portal.access"]
    assert any(f"POST /schools/{A}/download 200" in line for line in lines), lines
    assert any(" GET /signin 200 " in line for line in lines), lines
    text = "\n".join(lines)
    for secret_text in ("s3cr3t", "token=", "?", "Core group", "ann.lead", "tortoise"):
        assert secret_text not in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("databook ")


def test_trust_key_makes_every_state_folder_owner_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: Env) -> None:
    home = tmp_path / "fresh-home"
    monkeypatch.setenv("DATABOOK_HOME", str(home))
    for name in ("DATABOOK_CONFIG", "DATABOOK_PORTAL_STATE_DIR", "DATABOOK_PORTAL_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    pem = tmp_path / "council.pem"
    pem.write_text(env.key.public_pem)
    assert main(["portal", "trust-key", str(pem)]) == 0
    for folder in (home, home / "portal", home / "portal" / "state",
                   home / "portal" / "state" / "trusted-keys"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    [key] = (home / "portal" / "state" / "trusted-keys").iterdir()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
