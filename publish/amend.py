"""A same-day update (``databook run --changed-only``), published as a signed amendment of the
latest run: a new run folder in which the schools whose rows changed have new workbooks (with
their Changes sheet) and every other school's file is the latest run's, byte for byte.

Written through ``drop.write_run``, like a password rotation, so the same guarantees hold: the
run is staged and renamed into place in one step, ``latest`` moves only after the manifest is
signed, and a run killed at any moment leaves the drop as it was. The carried files are read
while the keystore is held still (as ``write_run`` consumes them), after checking that
``latest`` still names the run being amended: a rotation that got in first is never undone.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from databook.drop import latest
from databook.store import DropStore
from publish import manifest
from publish.drop import (
    DEFAULT_KEEP,
    SchoolFile,
    Signing,
    _lookup_of,
    _under_current_keys,
    with_bundles,
    write_run,
)
from publish.errors import PublishError
from publish.partner_changes import previous_entries
from publish.partners import PartnerFile
from publish.partners import manifest_entry as partner_entry
from publish.partners import under_current_keys as partner_files_under_current_keys
from publish.previous import Latest
from publish.workbook import RunInfo
from schemas.changes import MANIFEST_CHANGED
from schemas.partners import MANIFEST_PARTNERS

log = logging.getLogger(__name__)


def _carried_entry(entry: Mapping[str, Any], data: bytes,
                   bundle: bytes | None = None) -> manifest.Entry:
    return manifest.entry_for(
        int(entry["urn"]), str(entry["dfe_number"]), str(entry["name"]), str(entry["file"]),
        data, tuple(entry["members"]), int(entry["children"]),
        rows_digest=str(entry.get("rows_digest") or ""),
        updated_at=str(entry.get("updated_at") or ""),
        lookup=(str(entry["lookup_file"]), bundle) if bundle is not None else None)


def _carried(store: DropStore, run_id: str, name: str, sha256: str) -> bytes:
    data = store.read(f"{run_id}/{name}")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise PublishError(f"{run_id}/{name} does not match its manifest entry")
    return data


def _files(store: DropStore, amended: Latest, order: Sequence[int],
           changed: Mapping[int, SchoolFile],
           encrypted: Iterable[tuple[str, bytes]]) -> Iterator[tuple[str, bytes]]:
    """Every open school's file, in ``order``: a changed school's new bytes, else the amended
    run's file, checked against that run's signed manifest."""
    if latest(store) != amended.run_id:
        raise PublishError(f"the latest run moved from {amended.run_id} while this run was "
                           "under way (a password rotation?): run again to compare with it")
    fresh = dict(encrypted)  # each changed school's workbook and look-up bundle
    for urn in order:
        if urn in changed:
            for name in (changed[urn].file_name, changed[urn].lookup_name):
                if name in fresh:
                    yield name, fresh[name]
            continue
        entry = amended.entries[urn]
        yield str(entry["file"]), _carried(store, amended.run_id, str(entry["file"]),
                                           str(entry["sha256"]))
        if entry.get("lookup_file"):  # carried byte for byte: it still names its own run
            yield str(entry["lookup_file"]), _carried(
                store, amended.run_id, str(entry["lookup_file"]), str(entry["lookup_sha256"]))


def _carried_partner_files(store: DropStore, run_id: str, entries: Sequence[Mapping[str, Any]]
                           ) -> Iterator[tuple[str, bytes]]:
    """Unchanged partners' files from the amended run, checked against its manifest."""
    for entry in entries:
        name = f"{run_id}/{entry['file']}"
        data = store.read(name)
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise PublishError(f"{name} does not match its manifest entry")
        yield str(entry["file"]), data


def publish_amendment(store: DropStore, run: RunInfo, amended: Latest, order: Sequence[int],
                      files: Sequence[SchoolFile], encrypted: Iterable[tuple[str, bytes]],
                      signing: Signing, source_rows: Mapping[str, int], *,
                      keep: int = DEFAULT_KEEP, extra: Mapping[str, Any] | None = None,
                      partners: Sequence[PartnerFile] = ()) -> str:
    """Publish ``files`` (the changed schools, already rendered and encrypted as
    ``encrypted``) over the latest run ``amended``; ``order`` is every open school today.
    A school of ``order`` that is not changed must be in the amended run. ``partners`` are
    every partner with a current agreement tonight: a changed one (no "updated at" carried)
    gets a new file, the others' files are carried over, a partner not listed has none."""
    changed = {item.school.urn: item for item in files}
    missing = [u for u in order if u not in changed and u not in amended.entries]
    if missing:
        raise PublishError(f"{len(missing)} school(s) are neither changed nor in run "
                           f"{amended.run_id}")
    by_name = {item.file_name: item for item in files}
    before = previous_entries(amended.document)
    fresh_partners = [p for p in partners
                      if p.updated_at == "" or p.partner.partner_id not in before]
    carried = [before[p.partner.partner_id] for p in partners if p not in fresh_partners]

    def manifest_for(written: Mapping[str, bytes], signing: Signing) -> bytes:
        now = datetime.now(UTC)
        entries = []
        for urn in order:
            if urn in changed:
                item = changed[urn]
                entries.append(manifest.entry_for(
                    urn, item.school.dfe_number, item.school.name, item.file_name,
                    written[item.file_name], item.pseudonyms(signing.pseudonymise),
                    len(item.rows), rows_digest=item.rows_digest,
                    updated_at=item.updated_at or manifest.timestamp(now),
                    lookup=_lookup_of(item, written)))
            else:
                entry = amended.entries[urn]
                bundle = written.get(str(entry.get("lookup_file") or ""))
                entries.append(_carried_entry(entry, written[str(entry["file"])], bundle))
        reason = f"rows changed for {len(files)} school(s)"
        more: dict[str, Any] = {**(extra or {}), MANIFEST_CHANGED: sorted(changed)}
        if partners:
            more[MANIFEST_PARTNERS] = sorted(
                [{**entry, "bytes": len(written[str(entry["file"])])} for entry in carried]
                + [partner_entry(item, written[item.file_name],
                                 [signing.pseudonymise(p) for p in item.person_ids],
                                 manifest.timestamp(now)) for item in fresh_partners],
                key=lambda e: str(e["partner_id"]))
        return manifest.build(
            run_id=run.run_id, as_at=run.as_at, generated_at=now, source_rows=source_rows,
            signing_key_id=signing.key.key_id, entries=entries,
            amends={"run_id": amended.run_id, "reason": reason},
            extra=more)

    fresh = with_bundles(_under_current_keys(encrypted, by_name, signing.keystore), by_name,
                         run, signing.pseudonymise, signing.keystore)
    write_run(store, run.run_id, itertools.chain(
        _files(store, amended, order, changed, fresh),
        partner_files_under_current_keys(fresh_partners, run, signing.keystore),
        _carried_partner_files(store, amended.run_id, carried)), manifest_for, signing, keep)
    log.info("published run %s amending %s: %d school file(s) changed, %d carried over",
             run.run_id, amended.run_id, len(files), len(order) - len(files))
    return run.run_id
