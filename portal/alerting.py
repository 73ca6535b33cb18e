"""Tell the council when the portal will not serve a school's databook because it failed the
portal's checks (tampered, missing, unsigned, or no trusted key): the same channels as a failed
nightly run (``databook.alerts.send``: webhook and/or email, through ``PortalContext.alert``).

Why a separate small module: the alert must say only the school's URN, the run id and what
failed (never a file's contents or a person), must not hold up the DSL's page while a webhook
times out, and must not send one message per attempt when thirty DSLs try the same broken
file at 08:30: one alert per (run, school, failure) per process is enough; every attempt is
still its own ``refused`` ledger entry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger("databook.portal")
_MAKING = threading.Lock()

#: The failures the council must hear about (a school absent from the run, or nothing
#: published yet, is not a fault of the drop).
NEEDS_COUNCIL = frozenset({"tampered", "unsigned", "missing", "no_trusted_key",
                           "incomplete"})

WHAT_FAILED = {
    "tampered": "the file or the manifest does not match the council's signature",
    "unsigned": "the run has no signed manifest",
    "missing": "the school's file is missing from the run",
    "no_trusted_key": "the portal trusts no manifest signing key",
    "incomplete": "the run has not fully arrived on the portal host",
}


def has_channel(settings: Any) -> bool:
    """Whether the settings name an alert channel (a webhook, or SMTP with a recipient), so
    a page tells a DSL "the council has been told" only when it has been."""
    return bool(getattr(settings, "alert_webhook", None) or (
        getattr(settings, "alert_smtp", None) and getattr(settings, "alert_email_to", None)))


def record_for(urn: int, run_id: str | None, what: str) -> dict[str, Any]:
    """The alert record ``databook.alerts.message`` formats: "Run R for school U was refused"."""
    return {"run_id": run_id or "unknown", "as_at": f"school {urn}", "status": "refused",
            "urn": urn, "what": what,
            "error": f"the portal refused to serve school {urn}'s databook: "
                     f"{WHAT_FAILED.get(what, what)}",
            "report": "check the run with `databook manifest verify RUN` on the council's side"}


class CouncilAlerts:
    """Sends each distinct failure once per process, on a background thread."""

    def __init__(self, send: Callable[[Mapping[str, Any]], object]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._sent: set[tuple[str | None, int, str]] = set()

    def unserved(self, urn: int, run_id: str | None, what: str) -> threading.Thread | None:
        """Alert about one refused file; returns the sending thread (None: nothing to send)."""
        if what not in NEEDS_COUNCIL:
            return None
        key = (run_id, urn, what)
        with self._lock:
            if key in self._sent:
                return None
            self._sent.add(key)
        thread = threading.Thread(target=self._deliver, args=(record_for(urn, run_id, what),),
                                  name="portal-alert", daemon=True)
        thread.start()
        return thread

    def _deliver(self, record: Mapping[str, Any]) -> None:
        try:
            self._send(record)
        except Exception as exc:  # an alert must never take the portal down
            log.error("could not alert the council: %s", type(exc).__name__)


def council_alerts(state: Any, send: Callable[[Mapping[str, Any]], object]) -> CouncilAlerts:
    """The app's one ``CouncilAlerts`` (kept on ``app.state``, made on first use)."""
    with _MAKING:
        alerts = getattr(state, "council_alerts", None)
        if not isinstance(alerts, CouncilAlerts):
            alerts = CouncilAlerts(send)
            state.council_alerts = alerts
    return alerts


def send_soon(send: Callable[[Mapping[str, Any]], object],
              record: Mapping[str, Any]) -> threading.Thread:
    """Send one alert on a background thread at once (a reported concern): the reporter's
    page does not wait for a slow webhook, and a failure is logged, never raised."""
    def deliver() -> None:
        try:
            send(record)
        except Exception as exc:  # an alert must never take the portal down
            log.error("could not alert the council: %s", type(exc).__name__)

    thread = threading.Thread(target=deliver, name="portal-alert", daemon=True)
    thread.start()
    return thread
