"""The stages of a nightly run, extract to signed manifest, called in this process as the flow
calls them, with the time and peak memory (this process and its workers) of each phase.
Prints one JSON line; ``run.py`` runs it in a fresh process each time.

    python benchmarks/stages.py CASE_URL ROLL_URL STATE_DIR DROP_DIR REPORT_DIR WORKERS
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psutil

AS_AT = date(2026, 11, 21)


class Profile:
    """Seconds and peak MiB (sum over this process and its children) per phase."""

    def __init__(self) -> None:
        self.phases: list[dict[str, Any]] = []
        self._peak = 0
        self._me = psutil.Process()
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _rss(self) -> int:
        total = 0
        for proc in [self._me, *self._me.children(recursive=True)]:
            with suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, self._rss())
            time.sleep(0.02)

    @contextmanager
    def phase(self, name: str, fixed: bool = False) -> Iterator[None]:
        self._peak = self._rss()
        started = time.perf_counter()
        yield
        seconds = time.perf_counter() - started
        self._peak = max(self._peak, self._rss())
        self.phases.append({"phase": name, "seconds": seconds, "peak_mib": self._peak / 2**20,
                            "fixed": fixed})


def main(case_url: str, roll_url: str, state: Path, drop: Path, report_dir: Path,
         workers: int) -> None:
    profile = Profile()
    with profile.phase("import extract, transform, publish", fixed=True):
        from databook.store import LocalStore
        from extract import read_sources
        from publish.drop import (
            PROCESSES_FROM_SCHOOLS,
            Signing,
            lookup_keys,
            new_run_id,
            process_pool,
            publish_run,
            render_many,
            school_files,
            school_keys,
        )
        from publish.keystore import Keystore
        from publish.workbook import RunInfo
        from transform import Rules, build_databook
    with profile.phase("start validation (GX in its own process, as the flow)", fixed=True):
        from expectations.drift import Thresholds
        from expectations.gate import judge, previous_published, start_validation
        from expectations.gx_run import start_in_background

        start_in_background()  # the validate phase waits for it if it has not finished
    with profile.phase("extract"):
        data = read_sources(case_url, roll_url)
    with profile.phase("transform"):
        rules = Rules(as_at=AS_AT)
        book = build_databook(data, rules)
    with profile.phase("start validation (frames to GX's process)"):
        report_dir.mkdir(parents=True, exist_ok=True)  # a new report folder, as each run has
        pending = start_validation(book, data, rules,
                                   Path(tempfile.mkdtemp(dir=report_dir)))
        keystore = Keystore.open(state)
        store = LocalStore(drop)
    with profile.phase("keys and files (validation meanwhile)"):
        keys = school_keys(keystore, book.schools["urn"], workers)
        run = RunInfo(new_run_id(), AS_AT, datetime.now(UTC), "Starting Point", "01629 533190")
        lookups = lookup_keys(keystore, book.schools["urn"], workers)
        files = list(school_files(book.schools, book.rows, keys, lookups,
                                  keystore.pseudonymiser()))
    # As the flow: render and encrypt, and make the look-up bundles, while GX validates, in
    # this process below the ``auto`` threshold (the flow's threads share one interpreter),
    # else in worker processes.
    pool = None
    if len(files) >= PROCESSES_FROM_SCHOOLS and workers > 1:
        with profile.phase("process pool start", fixed=True):
            pool = process_pool(workers)
            list(pool.map(abs, range(workers * 4)))
    with profile.phase("render and encrypt (validation meanwhile)"):
        encrypted = render_many(files, run, pool)
        if pool is not None:
            pool.shutdown()
    with profile.phase("validation's rest (GX, Data Docs), drift"):
        outcome = pending.result()
        verdict = judge(outcome, book, previous_published(store, keystore.public_keys()),
                        Thresholds(), "benchmark")
    with profile.phase("write and sign"):
        publish_run(store, run, files, Signing.from_keystore(keystore), data.row_counts,
                    extra=verdict.manifest_fields(book.summary()), encrypted=encrypted)
    print(json.dumps({"phases": profile.phases, "schools": len(files),
                      "source_rows": sum(data.row_counts.values()),
                      "published_rows": int(book.summary()["rows"]),
                      "blocking": len(outcome.blocking_failures)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]), Path(sys.argv[5]),
         int(sys.argv[6]))
