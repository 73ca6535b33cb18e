"""The school-day non-collection alert as a Prefect flow, for the ``uncollected-alert``
deployment (prefect.yaml: 08:30 Europe/London, Monday to Friday). Wiring only: the work is
``databook.ledger.collection.check``, the same function as ``databook audit uncollected --alert``.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from databook.ledger.collection import check
from databook.ledger.config import from_settings
from flows.settings import load
from publish.keystore import Keystore


@flow(name="uncollected-databooks", persist_result=False)
def uncollected_alert() -> int:
    """Send the schools that have not downloaded their latest databook (URN and name only) to
    the alert channels; returns how many schools (a count is all Prefect stores)."""
    settings = load()
    keys = Keystore.open(settings.home, settings.master_key).public_keys()
    found = check(settings, from_settings(settings), keys, alert=True)
    logger = get_run_logger()
    logger.info("%d school(s) have not collected run %s%s", len(found.schools), found.run_id,
                f"; alert sent by: {', '.join(found.sent)}" if found.sent else "")
    return len(found.schools)
