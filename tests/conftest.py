"""Every fixture of the suite, in one place (unit, integration and end-to-end tests share
them): a demo council and a published run, PostgreSQL schemas, portal environments and
signed-in clients, the register's engine, ledgers, LibreOffice, a Prefect server. What the tests
call is in ``tests/support.py``."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import HTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from databook.database import engine_for
from demo import DemoSize
from portal.app import create_app
from tests.support import (
    AS_AT,
    PG_SERVER,
    PREFECT,
    STARTUP_TIMEOUT,
    Council,
    Env,
    Ledger,
    PrefectServer,
    Run,
    _Hook,
    clean_env,
    databook,
    free_port,
    make_council,
    make_env,
    make_ledger,
    register_tables,
    stop,
)


@pytest.fixture(scope="session")
def council(tmp_path_factory: pytest.TempPathFactory) -> Council:
    """The demo council, as of ``AS_AT``: every contract situation, about 3,000 pupils."""
    return make_council(tmp_path_factory.mktemp("council"), DemoSize(as_at=AS_AT))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema on the real PostgreSQL server, dropped after.

    Skips when the server is not there, except under CI, where a missing server fails the run.
    """
    engine = create_engine(PG_SERVER)
    schema = f"databook_{uuid.uuid4().hex[:10]}"
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        engine.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI and is not reachable: {exc.orig}")
        pytest.skip("PostgreSQL at 127.0.0.1:5432 is not reachable")
    try:
        yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The portal's database, once on embedded SQLite and once on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'portal.sqlite'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture(scope="session")
def run(council: Council, tmp_path_factory: pytest.TempPathFactory) -> Run:
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABOOK_", "PREFECT_"))}
    env |= {"DATABOOK_HOME": str(home), "PREFECT_HOME": str(home / "prefect"), **STARTUP_TIMEOUT}
    done = databook("run", "--as-at", AS_AT.isoformat(), "--source-url", council.case_url,
                    "--roll-url", council.roll_url, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return Run(home, Path(done.stdout.strip().splitlines()[-1]), done.stdout, done.stderr, env)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A real long-running Prefect server (``prefect server start``) on 127.0.0.1, for the
    whole session, as a council runs one; its scheduler looks for work every 2 s (not 60 s)
    so a schedule fires within a test."""
    import time
    import urllib.request

    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = clean_env(PREFECT_HOME=str(home),
                    PREFECT_API_SERVICES_LATE_RUNS_AFTER_SECONDS="5",
                    PREFECT_API_SERVICES_LATE_RUNS_LOOP_SECONDS="2",
                    PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
                    PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS="2")
    log_path = home / "server.log"
    log = log_path.open("wb")
    server = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port",
                               str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).close()
            break
        except OSError:
            assert server.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, "the Prefect server did not start"
            time.sleep(0.5)
    try:
        yield PrefectServer(url, log_path)
    finally:
        stop(server)
        log.close()


@pytest.fixture(scope="session")
def prefect_api(prefect_server: PrefectServer) -> str:
    """The session's Prefect server's API URL."""
    return prefect_server.url


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


@pytest.fixture
def client(env: Env) -> Iterator[TestClient]:
    with TestClient(create_app(env.settings), base_url="https://testserver",
                    follow_redirects=False) as c:
        yield c


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = engine_for(db_url)
    register_tables(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def ledger(db_url: str, tmp_path: Path) -> Iterator[Ledger]:
    made = make_ledger(db_url, tmp_path / "state")
    yield made
    made.engine.dispose()


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    made = make_ledger(f"sqlite:///{tmp_path / 'portal.sqlite'}", tmp_path / "state")
    yield made
    made.engine.dispose()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, object]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", _Hook.received
    server.shutdown()
    server.server_close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    """A DATABOOK_HOME whose portal database is where the settings' defaults put it."""
    home = tmp_path / "home"
    monkeypatch.setenv("DATABOOK_HOME", str(home))
    for name in ("DATABOOK_CONFIG", "DATABOOK_PORTAL_DATABASE_URL", "DATABOOK_PORTAL_STATE_DIR",
                 "DATABOOK_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    (home / "portal").mkdir(parents=True)
    made = make_ledger(f"sqlite:///{home / 'portal' / 'portal.sqlite'}",
                       home / "portal" / "state")
    return made


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not shutil.which("soffice") or not Path("/usr/lib/python3/dist-packages/uno.py").exists():
        if os.environ.get("CI") == "true":
            pytest.fail("LibreOffice (libreoffice-calc-nogui, python3-uno) is required under CI")
        pytest.skip("no LibreOffice here: apt-get install libreoffice-calc-nogui python3-uno")
    port = str(free_port())
    profile = tmp_path_factory.mktemp("lo-profile")
    soffice = subprocess.Popen(
        ["soffice", "--headless", "--invisible", "--nologo", "--norestore", "--nodefault",
         f"--accept=socket,host=127.0.0.1,port={port};urp;",
         f"-env:UserInstallation={profile.as_uri()}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while subprocess.run(["/usr/bin/python3", "-c", f"""
import uno
ctx = uno.getComponentContext()
r = ctx.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", ctx)
r.resolve("uno:socket,host=127.0.0.1,port={port};urp;StarOffice.ComponentContext")
"""], capture_output=True, check=False).returncode != 0:
        assert time.monotonic() < deadline, "LibreOffice did not start"
        time.sleep(0.5)
    try:
        yield port
    finally:
        stop(soffice)
