"""Three portal processes starting at once on a fresh PostgreSQL database (a service restarted
with its workers, a command run meanwhile): every one migrates or finds the schema current,
none fails."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, inspect

from tests.support import REPO

MIGRATE = "import sys; from portal.migrate import upgrade; upgrade(sys.argv[1])"


@pytest.mark.postgres
def test_three_concurrent_first_migrations_all_succeed(pg_url: str) -> None:
    starts = [subprocess.Popen([sys.executable, "-c", MIGRATE, pg_url], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(3)]
    results = [(p.wait(timeout=180), p.stderr.read() if p.stderr else "") for p in starts]
    assert [code for code, _ in results] == [0, 0, 0], [err[-600:] for _, err in results]
    engine = create_engine(pg_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"users", "ledger_entries", "alembic_version"} <= tables
