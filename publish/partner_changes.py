"""What changed in a partner's databook since its previous one, by the schools' mechanism:
a keyed digest in the signed manifest says whether anything changed without decrypting
anything, and only a partner whose digest differs has its previous workbook read back.

The rows compared are the partner's own (agreed columns only, the rest blank) on both sides:
the previous file's rows are read by header and narrowed to today's agreement, so a column the
partner may no longer see never shows up as a change.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from databook.store import DropStore
from publish.encrypt import decrypt, decrypt_with_key
from publish.errors import PublishError
from publish.keystore import Keystore
from publish.partners import PartnerFile, digest, mask
from publish.previous import read_rows
from schemas.partners import MANIFEST_PARTNERS
from transform.row_changes import Previous, SchoolChanges, school_changes

log = logging.getLogger(__name__)


def previous_entries(document: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """The partners section of a verified manifest, by partner id."""
    if document is None:
        return {}
    return {str(p["partner_id"]): p for p in document.get(MANIFEST_PARTNERS, [])}


def _open(store: DropStore, keystore: Keystore, run_id: str, entry: Mapping[str, Any]) -> bytes:
    name = f"{run_id}/{entry['file']}"
    data = store.read(name)
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise PublishError(f"{name} does not match its manifest entry")
    pid = str(entry["partner_id"])
    key = keystore.current_partner_key(pid)
    if key is not None:
        try:
            return decrypt_with_key(data, key)
        except ValueError:
            log.debug("partner %s's previous file predates its current key", pid)
    return decrypt(data, keystore.partner_password(pid))


def attach_changes(files: Sequence[PartnerFile], document: Mapping[str, Any] | None,
                   store: DropStore, keystore: Keystore, withheld: str) -> list[PartnerFile]:
    """Each file with its digest, its Changes sheet and, when nothing changed, the previous
    file's "updated at" (empty: changed, so this run's time)."""
    key = keystore.pseudonymiser().digest_key()
    before = previous_entries(document)
    run_id = "" if document is None else str(document["run_id"])
    as_at = None if document is None else date.fromisoformat(str(document["as_at"]))
    out = []
    for item in files:
        today = digest(item, key)
        entry = before.get(item.partner.partner_id)
        if entry is None or as_at is None:
            out.append(replace(item, rows_digest=today, changes=SchoolChanges(None)))
            continue
        previous = Previous(run_id, as_at, int(entry["children"]))
        if entry.get("rows_digest") == today:
            out.append(replace(item, rows_digest=today, changes=SchoolChanges(previous),
                               updated_at=str(entry.get("updated_at") or "")))
            continue
        old = [mask(row, item.partner.columns)
               for row in read_rows(_open(store, keystore, run_id, entry))]
        changes = school_changes(previous, old, item.rows, withheld)
        out.append(replace(item, rows_digest=today, changes=changes))
    return out


def changed(files: Sequence[PartnerFile], document: Mapping[str, Any] | None) -> list[str]:
    """Partners whose file differs from the previous run's, or who had one and now have none
    (a lapsed agreement): an amendment must publish for them."""
    current = {f.partner.partner_id for f in files}
    gone = [p for p in previous_entries(document) if p not in current]
    return sorted([f.partner.partner_id for f in files if not f.updated_at] + gone)
