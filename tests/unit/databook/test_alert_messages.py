"""What an alert says, in plain words: "Run X failed.", never "was failed" nor "for None"."""

from __future__ import annotations

from databook.alerts import message


def test_a_run_alert_says_what_became_of_the_run() -> None:
    run = "20261121T020003.512345Z-1a2b3c"
    _, failed = message({"run_id": run, "as_at": "2026-11-21", "status": "failed",
                         "error": "the extract stage failed"})
    assert failed.splitlines()[0] == f"Run {run} for 2026-11-21 failed."
    subject, blocked = message({"run_id": run, "as_at": "2026-11-21", "status": "blocked"})
    assert subject == f"Safeguarding databook: run {run} BLOCKED"
    assert blocked.splitlines()[0] == (f"Run {run} for 2026-11-21 was blocked: nothing was "
                                       "published.")
    _, crashed = message({"run_id": run, "status": "crashed"})
    assert crashed.splitlines()[0] == (f"Run {run} crashed: its process ended without "
                                       "finishing.")
    assert "None" not in crashed
