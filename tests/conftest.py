"""Shared fixtures: a generated demo council in SQLite, and a private PostgreSQL schema."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from demo import DemoSize, generate

AS_AT = date(2026, 11, 21)
#: Prefect's temporary server migrates a new database on a cold PREFECT_HOME (~30 s on 2 cores,
#: against a 20 s default timeout): every test process and every child it starts waits longer.
STARTUP_TIMEOUT = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
os.environ.setdefault(*next(iter(STARTUP_TIMEOUT.items())))
PG_SERVER = os.environ.get("DATABOOK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass(frozen=True)
class Council:
    case_path: Path
    roll_path: Path

    @property
    def case_url(self) -> str:
        return f"sqlite:///{self.case_path}"

    @property
    def roll_url(self) -> str:
        return f"sqlite:///{self.roll_path}"


def make_council(folder: Path, size: DemoSize) -> Council:
    council = Council(folder / "case.sqlite", folder / "roll.sqlite")
    generate(council.case_url, council.roll_url, size)
    return council


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


@dataclass(frozen=True)
class Run:
    home: Path
    folder: Path
    stdout: str
    stderr: str
    env: dict[str, str]


def databook(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "databook", *args], env=env, text=True,
                          capture_output=True, timeout=600, check=False)


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




PREFECT = str(Path(sys.executable).parent / "prefect")
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Stop a server a test started in its own session, and everything it spawned."""
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABOOK_", "PREFECT_"))}
    return env | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", **STARTUP_TIMEOUT} | extra


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prefect server (``prefect server start``) on 127.0.0.1, for the whole session."""
    import time
    import urllib.request

    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    env = clean_env(PREFECT_HOME=str(home),
                    PREFECT_API_SERVICES_LATE_RUNS_AFTER_SECONDS="5",
                    PREFECT_API_SERVICES_LATE_RUNS_LOOP_SECONDS="2")
    log = (home / "server.log").open("wb")
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
            assert server.poll() is None, (home / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the Prefect server did not start"
            time.sleep(0.5)
    try:
        yield url
    finally:
        stop(server)
        log.close()
