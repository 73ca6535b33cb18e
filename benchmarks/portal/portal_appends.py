"""Where a ledger append's time goes on SQLite: the same appends (one ``record`` and its
commit, as a portal request makes them) under ``synchronous=FULL`` (the product's setting:
SQLite's default, an fsync of the WAL at every commit) and ``synchronous=NORMAL`` (WAL synced
only at checkpoints: a power cut may lose the last commits, never corrupt the file),
interleaved in blocks so a busy machine slows both alike. Nothing else runs against the
database, so this isolates the commit's cost from waiting for the write lock.

    .venv/bin/python benchmarks/portal/portal_appends.py [--appends 1000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event

from databook.database import engine_for, session_factory
from databook.ledger import record, sealing
from portal.migrate import upgrade


def _p(values: list[float]) -> dict[str, float]:
    cut = statistics.quantiles(sorted(values), n=100, method="inclusive")
    return {"n": len(values), "p50": round(cut[49], 2), "p95": round(cut[94], 2),
            "p99": round(cut[98], 2), "max": round(max(values), 2)}


def maker(folder: Path, mode: str) -> Any:
    url = f"sqlite:///{folder / f'{mode.lower()}.sqlite'}"
    upgrade(url)
    engine = sealing.attach(engine_for(url), folder / "state")

    @event.listens_for(engine, "connect")
    def _synchronous(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA synchronous={mode}")
        cursor.close()

    return session_factory(engine)


def append_once(make: Any, i: int) -> float:
    start = time.perf_counter()
    with make() as db:
        record(db, "download", actor_id=i % 600, actor_email=f"dsl{i % 600}@school.example",
               urn=200000 + i % 600, run_id="20261123T020000Z-abc123", file_sha256="ab" * 32,
               as_at="2026-11-23", reason_code="records", client="127.0.0.1",
               user_agent="bench")
        db.commit()
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=1000)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"FULL": [], "NORMAL": []}
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parents[1] / "out") as tmp:
        makers = {mode: maker(Path(tmp), mode) for mode in times}
        for block in range(0, args.appends, 50):
            for mode, make in makers.items():
                times[mode] += [append_once(make, block + i) for i in range(50)]
    for mode, values in times.items():
        print(f"synchronous={mode:6} append + commit ms: {_p(values)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
