"""Wiring for "what changed since the last databook" and same-day amendment runs.

The nightly flow compares every school's rows with the latest published run before it
validates (the change count is a blocking expectation), then either publishes every school
(a full run, each workbook with its Changes sheet) or, with ``changed_only``, an amendment
of the latest run holding new workbooks for the changed schools alone. Tasks here, like the
flow's, never cache or persist: their inputs and results hold children's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from databook.drop import ManifestError
from databook.faults import contained
from expectations.gate import PublishBlocked
from extract import SourceError
from flows import school_alerts
from flows.partners import PartnerPlan
from flows.settings import NightlySettings, SettingsError
from publish.amend import publish_amendment
from publish.drop import SchoolFile, Signing
from publish.errors import KeystoreError, PublishError
from publish.keystore import Keystore
from publish.previous import Comparison, attach, compare_with_latest, renamed
from publish.workbook import RunInfo, School
from transform import Databook, Rules

#: As ``flows.nightly.SAFE``: errors whose text names ids and files, never a value.
SAFE: tuple[type[Exception], ...] = (SourceError, PublishError, ManifestError, KeystoreError,
                                     SettingsError, PublishBlocked)


@task(cache_policy=NO_CACHE, persist_result=False)
@contained("compare", SAFE)
def compare_latest(book: Databook, rules: Rules, settings: NightlySettings) -> Comparison:
    """Every school's rows against the latest run (its manifest verified first); reads only
    the workbooks of schools whose rows digest differs."""
    keystore = Keystore.open(settings.home, settings.master_key)
    store = settings.open_drop()
    try:
        comparison = compare_with_latest(store, keystore, book.rows,
                                         [int(u) for u in book.schools["urn"]],
                                         rules.withheld_address)
    finally:
        store.close()
    since = comparison.latest.run_id if comparison.latest else "no earlier run"
    get_run_logger().info("since %s: %d school(s) changed, %d closed", since,
                          len(comparison.changed), len(comparison.gone))
    return comparison


def amendable(comparison: Comparison, as_at: date) -> bool:
    """A changed-only run amends the latest run when there is one for the same date; else
    (the first run, or a new day before the nightly run) it publishes every school, so that
    every file of a run describes the run's date."""
    return comparison.latest is not None and comparison.latest.as_at == as_at


def to_render(files: Sequence[SchoolFile], comparison: Comparison,
              amend: bool) -> list[SchoolFile]:
    """The files to render, with their Changes sheets: all of them, or for an amendment the
    schools whose rows (or name) changed."""
    if not amend:
        return attach(files, comparison)
    changed = {*comparison.changed, *renamed((f.school for f in files), comparison)}
    return attach(files, comparison, sorted(changed))


def nothing_to_publish(book: Databook, comparison: Comparison) -> bool:
    """An amendment would hold no new file: no school's rows, name or DfE number changed and
    none closed. Then there is nothing for validation to block either."""
    schools = [School(int(u), str(d), str(n)) for u, d, n in zip(
        book.schools["urn"], book.schools["dfe_number"].fillna(""),
        book.schools["name"].fillna(""), strict=True)]
    return not (comparison.changed or comparison.gone or renamed(schools, comparison))


@task(cache_policy=NO_CACHE, persist_result=False)
@contained("publish", SAFE)
def publish_changed(files: list[SchoolFile], encrypted: list[tuple[str, bytes]],
                    settings: NightlySettings, run: RunInfo, source_rows: dict[str, int],
                    extra: dict[str, Any], comparison: Comparison, order: list[int],
                    partners: PartnerPlan | None = None) -> str:
    """The amendment: the changed schools' new files, every other school's carried over
    (and the same for partners' files)."""
    assert comparison.latest is not None  # amendable() said so
    keystore = Keystore.open(settings.home, settings.master_key)
    store = settings.open_drop()
    try:
        run_id = publish_amendment(store, run, comparison.latest, order, files, encrypted,
                                   Signing.from_keystore(keystore), source_rows,
                                   keep=settings.keep_runs, extra=extra,
                                   partners=partners.files if partners is not None else ())
        folder = f"{store.describe()}/{run_id}"
    finally:
        store.close()
    get_run_logger().info("published an amendment of run %s to %s: %d school file(s) changed",
                          comparison.latest.run_id, folder, len(files))
    return folder


def nothing_changed(settings: NightlySettings, comparison: Comparison) -> str:
    """Say so, and name the run that stays current (the command's last line)."""
    assert comparison.latest is not None
    get_run_logger().info("no school's databook changed since run %s: nothing published",
                          comparison.latest.run_id)
    store = settings.open_drop()
    try:
        return f"{store.describe()}/{comparison.latest.run_id}"
    finally:
        store.close()


def tell_schools(settings: NightlySettings, files: Sequence[SchoolFile],
                 comparison: Comparison) -> None:
    """After publishing: tell the DSLs of each changed school that asked to be told (URN and
    school name only)."""
    if not settings.school_alerts:
        return
    changed = set(comparison.changed)
    schools = [(f.school.urn, f.school.name) for f in files if f.school.urn in changed]
    sent = school_alerts.notify(settings, schools, datetime.now(UTC))
    get_run_logger().info("told %d changed school(s) their databook was updated",
                          sum(1 for channels in sent.values() if channels))
