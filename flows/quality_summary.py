"""The weekly data-quality summary as a Prefect flow, for the ``data-quality-summary``
deployment (prefect.yaml: Mondays 07:30 Europe/London). Wiring only: the work is
``quality.summary``, the same as ``databook findings summary --send``. Counts only: the
summary is built from per-run counts and never holds an identifier.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.settings import SettingsError, load, today_in_london
from quality import history, summary


@flow(name="data-quality-summary", persist_result=False)
def data_quality_summary() -> int:
    """Send the week's counts and trends to the data-quality channel; returns the number of
    channels that took it (a count is all Prefect stores). A channel that fails fails the
    flow run, so Prefect shows it."""
    settings = load()
    engine = history.open_history(settings.runs_database)
    try:
        made = summary.build(engine, today_in_london())
    finally:
        engine.dispose()
    sent, failed = summary.send(settings, made, settings.data_quality_webhook,
                                settings.data_quality_email_to)
    logger = get_run_logger()
    logger.info("%s; sent by: %s", made.subject, ", ".join(sent) or "nothing")
    if failed or not sent:
        raise SettingsError("the data-quality summary was NOT sent by: "
                            f"{', '.join(failed) or 'any channel (none configured)'}")
    return len(sent)
