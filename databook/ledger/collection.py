"""Non-collection: schools whose latest databook nobody has downloaded since it was published
(or since their rows last changed). ``databook audit uncollected [--alert]`` and the 08:30
school-day deployment (``flows/collection.py``) both call ``check``.

The alert names schools by URN and name only: who did not collect is the council's business,
what the file holds never leaves the drop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from databook.alerts import send_event
from databook.drop import ManifestError, VerifiedManifests, endorsed, latest
from databook.ledger.config import AuditError, LedgerConfig, ledger_engine, session
from databook.ledger.reports import uncollected
from databook.settings import HostSettings


@dataclass(frozen=True)
class Uncollected:
    run_id: str
    schools: list[dict[str, Any]]  # {"urn", "name"} each
    sent: list[str] = field(default_factory=list)  # alert channels that took the list


def latest_manifest(settings: HostSettings, keys: Mapping[str, str],
                    cache: VerifiedManifests | None = None) -> tuple[str, dict[str, Any]]:
    """The run ``latest`` names, with its manifest once its signature verifies with ``keys``
    (the keystore's on the nightly host, the trusted ones on the portal host)."""
    store = settings.open_drop()
    try:
        run_id = latest(store)
        if run_id is None:
            raise AuditError(f"the drop {store.describe()} has no published run yet")
        try:
            return run_id, (cache or VerifiedManifests()).get(store, run_id,
                                                             endorsed(store, keys))
        except ManifestError as exc:
            raise AuditError(f"{exc}: nothing in it is trusted (databook manifest verify "
                             f"{run_id})") from None
    finally:
        store.close()


def check(settings: HostSettings, config: LedgerConfig, keys: Mapping[str, str], *,
          alert: bool) -> Uncollected:
    """The latest run's schools nobody collected; with ``alert``, send the list (when there is
    one) to the configured channels."""
    run_id, manifest = latest_manifest(settings, keys)
    engine = ledger_engine(config)
    try:
        with session(engine) as db:
            rows = uncollected(db, manifest)
    finally:
        engine.dispose()
    sent: list[str] = []
    if rows and alert:
        listed = "; ".join(f"{r['urn']} {r['name']}" for r in rows)
        sent = send_event(settings, run_id, "not collected",
                          f"{len(rows)} schools have not downloaded their latest databook: "
                          f"{listed}", "databook audit uncollected")
    return Uncollected(run_id, rows, sent)
