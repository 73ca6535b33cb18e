"""Wiring for multi-agency partners' databooks in the nightly run.

The register is read from the portal database with plain SQL (``publish.partner_register``;
this host never imports portal code). Partners with a current agreement get a file built from
the schools' rows tonight; the others get nothing, and the run's record and report say so.
Tasks never cache or persist: their inputs and results hold children's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from databook.faults import contained
from flows.settings import NightlySettings, SettingsError
from publish.errors import KeystoreError, PublishError
from publish.keystore import Keystore
from publish.partner_changes import attach_changes, changed
from publish.partner_register import RegisterUnavailable, read_partners
from publish.partners import PartnerFile, from_frames, split
from publish.previous import Comparison
from schemas.partners import lapse_reason
from transform import Databook

SAFE: tuple[type[Exception], ...] = (PublishError, KeystoreError, SettingsError)


@dataclass(frozen=True)
class PartnerPlan:
    """Tonight's partner files (with Changes sheets) and the partners who get none."""

    files: list[PartnerFile] = field(default_factory=list)
    lapsed: list[dict[str, str]] = field(default_factory=list)
    #: Partners an amendment must publish for (file changed, or now lapsed).
    changed: list[str] = field(default_factory=list)
    note: str = ""

    def record(self) -> dict[str, Any]:
        """For the run record and report: ids, dates and reasons only."""
        out: dict[str, Any] = {"published": [f.partner.partner_id for f in self.files],
                               "lapsed": self.lapsed}
        if self.note:
            out["note"] = self.note
        return out


@task(cache_policy=NO_CACHE, persist_result=False)
@contained("partners", SAFE)
def prepare_partners(book: Databook, settings: NightlySettings, comparison: Comparison,
                     today: date, withheld: str) -> PartnerPlan:
    """The files of partners whose agreement is current ``today`` (the publishing date),
    with their Changes sheets; the others named with the reason they get nothing."""
    logger = get_run_logger()
    if missing := settings.missing_portal_database():
        logger.warning("%s: no partner databooks in this run", missing)
        return PartnerPlan(note=f"{missing}: no partner databooks were published")
    try:
        records = read_partners(settings.portal.database_url)
    except RegisterUnavailable as exc:
        logger.warning("%s: no partner databooks in this run", exc)
        return PartnerPlan(note=f"{exc}: no partner databooks were published")
    current, lapsed = split(records, today)
    for record in lapsed:
        logger.warning("partner %s: %s; nothing published for it", record.partner_id,
                       lapse_reason(record, today))
    keystore = Keystore.open(settings.home, settings.master_key)
    keys = dict(keystore.partner_keys([p.partner_id for p in current]))
    files = from_frames(book.rows, book.schools, current, keys)
    document = None if comparison.latest is None else comparison.latest.document
    store = settings.open_drop()
    try:
        files = attach_changes(files, document, store, keystore, withheld)
    finally:
        store.close()
    logger.info("partners: %d with a current agreement, %d without", len(current), len(lapsed))
    return PartnerPlan(files, [{"partner_id": r.partner_id, "reason": lapse_reason(r, today)}
                               for r in lapsed], changed(files, document))
