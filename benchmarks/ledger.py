"""The download ledger's three goals, on SQLite in a temporary folder:

- append p99 <= 5 ms (one ``record`` and commit per event, as the portal does),
- ``audit verify`` of 1,000,000 entries <= 60 s,
- an inclusion proof for any entry of a 1,000,000-entry tree <= 10 ms.

    .venv/bin/python -m benchmarks.ledger [--entries N] [--appends N] [--postgres URL]

The big ledger is written in bulk (the same bytes, leaf hashes and stored nodes ``record``
makes), because a million single appends would time the set-up, not the goals.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from databook.database import engine_for, session_factory
from databook.ledger import log, merkle, record, sealing
from databook.ledger.config import LedgerConfig, load_signer
from databook.ledger.entries import build
from databook.ledger.models import LedgerEntry, LedgerNode
from databook.ledger.verify import verify_ledger
from portal.migrate import upgrade


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def appends(config: LedgerConfig, count: int) -> list[float]:
    make = session_factory(sealing.attach(engine_for(config.database_url), config.state_dir))
    times = []
    for i in range(count):
        start = time.perf_counter()
        with make() as db:
            record(db, "download", actor_id=i % 600, actor_email=f"dsl{i % 600}@school.example",
                   urn=110000 + i % 300, run_id="20261123T020000Z-abc123", file_sha256="ab" * 32,
                   reason_code="concern", reason_text="synthetic reason", client="127.0.0.1",
                   user_agent="bench")
            db.commit()
        times.append((time.perf_counter() - start) * 1000)
    return times


def bulk(config: LedgerConfig, count: int) -> None:
    engine = sealing.attach(engine_for(config.database_url), config.state_dir)
    tree = merkle.MemoryTree()
    start = datetime(2026, 9, 1, 7, tzinfo=UTC)
    batch: list[dict[str, object]] = []
    nodes: list[dict[str, object]] = []
    with session_factory(engine)() as db:
        for i in range(count):
            at = start + timedelta(seconds=i)
            fields: dict[str, str | int | bool | None] = {
                "actor_id": i % 600, "actor_email": f"dsl{i % 600}@school.example",
                "urn": 110000 + i % 300, "run_id": "20261123T020000Z-abc123",
                "file_sha256": "ab" * 32, "reason_code": "concern"}
            body = build(i, "download", at, fields, {})
            leaf = merkle.leaf_hash(body)
            batch.append({"idx": i, "kind": "download", "at": at, "actor_id": i % 600,
                          "urn": 110000 + i % 300, "body": body, "leaf_hash": leaf})
            nodes += [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in tree.append(leaf)]
            if len(batch) == 50_000 or i == count - 1:
                db.execute(insert(LedgerEntry), batch)
                if nodes:
                    db.execute(insert(LedgerNode), nodes)
                db.commit()
                batch, nodes = [], []
        log.checkpoint(db, config, force=True)
        db.commit()
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=2_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL (empty schema) instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "state"
        small = LedgerConfig(state, args.postgres or f"sqlite:///{folder}/append.sqlite")
        upgrade(small.database_url)
        times = appends(small, args.appends)
        print(f"append: {len(times)} events, p50 {_p(times, 50):.2f} ms, "
              f"p99 {_p(times, 99):.2f} ms (goal <= 5 ms)")
        big = LedgerConfig(state, f"sqlite:///{folder}/big.sqlite")
        upgrade(big.database_url)
        start = time.perf_counter()
        bulk(big, args.entries)
        print(f"set-up: {args.entries} entries written in {time.perf_counter() - start:.1f} s")
        engine = sealing.attach(engine_for(big.database_url), big.state_dir)
        with session_factory(engine)() as db:
            start = time.perf_counter()
            result = verify_ledger(db, load_signer(big).verifier)
            print(f"verify: {result.entries} entries in {time.perf_counter() - start:.1f} s "
                  "(goal <= 60 s)")
            proof_times = []
            for index in [0, args.entries - 1, *random.sample(range(args.entries), 500)]:
                start = time.perf_counter()
                log.inclusion_proof(db, index, args.entries)
                proof_times.append((time.perf_counter() - start) * 1000)
            print(f"inclusion proof: p50 {_p(proof_times, 50):.2f} ms, p99 "
                  f"{_p(proof_times, 99):.2f} ms, max {max(proof_times):.2f} ms (goal <= 10 ms)")
        engine.dispose()


if __name__ == "__main__":
    main()
