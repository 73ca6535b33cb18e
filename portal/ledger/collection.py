"""Non-collection: schools whose latest databook nobody has downloaded since it was published
(or since their rows last changed). ``databook audit uncollected [--alert]`` and the 08:30
school-day deployment (``flows/collection.py``) both call ``check``.

The alert names schools by URN and name only: who did not collect is the council's business,
what the file holds never leaves the drop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from portal.ledger.config import LedgerConfig
from portal.ledger.reports import uncollected
from portal.ledger.sources import latest_manifest, ledger_engine, session
from portal.ledger.witnessing import send_alert


@dataclass(frozen=True)
class Uncollected:
    run_id: str
    schools: list[dict[str, Any]]  # {"urn", "name"} each
    sent: list[str] = field(default_factory=list)  # alert channels that took the list


def check(settings: Any, config: LedgerConfig, *, alert: bool) -> Uncollected:
    """The latest run's schools nobody collected; with ``alert``, send the list (when there is
    one) to the configured channels."""
    run_id, manifest = latest_manifest(settings)
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            rows = uncollected(db, manifest)
    finally:
        engine.dispose()
    sent: list[str] = []
    if rows and alert:
        listed = "; ".join(f"{r['urn']} {r['name']}" for r in rows)
        sent = send_alert(settings, run_id, "not collected",
                          f"{len(rows)} schools have not downloaded their latest databook: "
                          f"{listed}", "databook audit uncollected")
    return Uncollected(run_id, rows, sent)
