"""A run in the drop: every open school's encrypted databook and a signed manifest, written in
a staging folder and renamed into place in one step; then the ``latest`` pointer moves; then
runs beyond the retention limit are deleted.

A run that fails or is killed at any moment leaves the previous runs and ``latest`` exactly as
they were; the next run removes its staging folder. The expensive part is the 100,000-round
password hash inside each file's encryption, so schools are rendered and encrypted in worker
processes; only encrypted bytes come back to be written.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import pandas as pd

from databook.drop import LATEST, STAGING_PREFIX, latest, runs
from databook.store import DropStore
from databook.workers import pool as worker_pool
from publish import lookup_bundle, manifest
from publish.encrypt import SchoolKey, encrypt, rekey
from publish.errors import PublishError
from publish.keystore import Keystore, Pseudonymiser, SigningKey
from publish.lookup_bundle import LookupKey
from publish.partners import PartnerFile
from publish.partners import manifest_entry as partner_entry
from publish.partners import under_current_keys as partner_files_under_current_keys
from publish.workbook import RunInfo, School, Value, render
from schemas.databook import DATE_KEYS, KEYS
from schemas.partners import MANIFEST_PARTNERS

if TYPE_CHECKING:
    from transform.row_changes import SchoolChanges

log = logging.getLogger(__name__)

DEFAULT_KEEP = 14


@dataclass(frozen=True)
class SchoolFile:
    school: School
    rows: tuple[tuple[Value, ...], ...]
    key: SchoolKey | str  # the school's cached key; a bare password is derived (slow)
    person_ids: tuple[int, ...] = ()
    #: The Changes sheet's content (``publish.previous``); None renders no Changes sheet.
    changes: SchoolChanges | None = None
    #: The keyed digest of ``rows`` and, when the rows did not change, the latest run's
    #: "updated at" for the school (empty: this run's time). Both go into the manifest.
    rows_digest: str = ""
    updated_at: str = ""
    #: The school's cached look-up key: with it, the run publishes the school's look-up
    #: bundle (``publish.lookup_bundle``) beside its workbook; None publishes none.
    lookup: LookupKey | None = None
    #: Each row's child as the manifest and the look-up bundle name them (the keystore's
    #: pseudonym of ``person_ids[i]``), computed once; empty: computed when written.
    row_ids: tuple[str, ...] = ()

    @property
    def file_name(self) -> str:
        return f"{self.school.urn}.xlsx"

    @property
    def lookup_name(self) -> str:
        return lookup_bundle.file_name(self.school.urn)

    def pseudonyms(self, pseudonymise: Pseudonymiser) -> Sequence[str]:
        return self.row_ids or [pseudonymise(p) for p in self.person_ids]


@dataclass(frozen=True)
class Signing:
    """What the manifest needs from the keystore."""

    key: SigningKey
    pseudonymise: Pseudonymiser
    public_keys: Mapping[str, str]
    keystore: Keystore | None = None

    @classmethod
    def from_keystore(cls, keystore: Keystore) -> Signing:
        return cls(keystore.signing_key(), keystore.pseudonymiser(), keystore.public_keys(),
                   keystore)

    @contextlib.contextmanager
    def held(self) -> Iterator[Signing]:
        """This signing as of now, with the keystore held still while a run is written: a
        ``keys rotate`` meanwhile waits, and one that came before is seen (its new signing
        key signs; a school whose password it rotated gets its file re-keyed)."""
        if self.keystore is None:
            yield self
            return
        with self.keystore.locked() as keystore:
            yield Signing.from_keystore(keystore)


def new_run_id(now: datetime | None = None) -> str:
    """Sorts in creation order (UTC to the microsecond), unique with a short random tail."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S.%fZ}-{os.urandom(3).hex()}"


def plain_rows(frame: pd.DataFrame) -> list[tuple[Value, ...]]:
    """Schema columns only, as Python values: ``str``, ``date`` or ``None``. Column by column
    (each converted once for the whole county), not value by value."""
    columns = [_plain_column(frame[key], key in DATE_KEYS) for key in KEYS]
    return list(zip(*columns, strict=True))


def _plain_column(col: pd.Series, is_date: bool) -> list[Value]:
    missing = col.isna().to_numpy()
    if is_date and pd.api.types.is_datetime64_any_dtype(col.dtype):
        days = col.to_numpy().astype("datetime64[D]").astype(object)  # datetime.date
        return [None if gone else day for day, gone in zip(days, missing, strict=True)]
    if is_date:
        return [None if gone else v.date() for v, gone in zip(col, missing, strict=True)]
    return [None if gone else v if isinstance(v, str) else str(v)
            for v, gone in zip(col.to_numpy(dtype=object), missing, strict=True)]


def school_keys(keystore: Keystore, urns: Iterable[int], workers: int = 1
                ) -> dict[int, SchoolKey]:
    """Each school's cached key; the first run (or a keystore from before the cache) derives
    them once, in worker processes when there are many."""
    wanted = [int(u) for u in urns]
    missing = sum(1 for u in wanted if keystore.current_key(u) is None)
    if workers <= 1 or missing < 8:
        return keystore.ensure_keys(wanted)
    with process_pool(workers) as pool:
        return keystore.ensure_keys(wanted, pool.map)


def lookup_keys(keystore: Keystore, urns: Iterable[int], workers: int = 1
                ) -> dict[int, LookupKey]:
    """Each school's cached look-up key: one PBKDF2 per new school or password, in worker
    processes when there are many; a night with nothing new derives nothing."""
    wanted = [int(u) for u in urns]
    missing = sum(1 for u in wanted if keystore.current_lookup_key(u) is None)
    if workers <= 1 or missing < 8:
        return keystore.ensure_lookup_keys(wanted)
    with process_pool(workers) as pool:
        return keystore.ensure_lookup_keys(wanted, pool.map)


def school_files(schools: pd.DataFrame, rows: pd.DataFrame,
                 keys: Mapping[int, SchoolKey | str],
                 lookups: Mapping[int, LookupKey] | None = None,
                 pseudonymise: Pseudonymiser | None = None) -> Iterator[SchoolFile]:
    """One file per open school. A row whose school is not in ``schools`` is an error: it
    would otherwise be silently dropped or, worse, land in another school's file. With
    ``pseudonymise`` each file carries its rows' pseudonyms, so whoever renders the school can
    build its look-up bundle too."""
    stray = set(rows["urn"]) - set(schools["urn"])
    if stray:
        raise PublishError(f"{len(stray)} school(s) in the rows are not open schools")
    plain = plain_rows(rows)
    row_urns = rows["urn"].astype(int).tolist()
    person_ids = rows["person_id"].astype(int).tolist()
    pseudonyms = [] if pseudonymise is None else [pseudonymise(p) for p in person_ids]
    by_school: dict[int, list[int]] = {}
    for i, urn in enumerate(row_urns):
        by_school.setdefault(urn, []).append(i)
    for urn, dfe_number, name in zip(schools["urn"].astype(int).tolist(),
                                     schools["dfe_number"].fillna("").astype(str).tolist(),
                                     schools["name"].fillna("").astype(str).tolist(), strict=True):
        mine = by_school.get(urn, [])
        if any(row_urns[i] != urn for i in mine):
            raise PublishError(f"rows for another school reached school {urn}'s file")
        yield SchoolFile(School(urn, dfe_number, name), tuple(plain[i] for i in mine), keys[urn],
                         tuple(person_ids[i] for i in mine),
                         lookup=None if lookups is None else lookups[urn],
                         row_ids=tuple(pseudonyms[i] for i in mine) if pseudonyms else ())


def render_encrypted(job: tuple[SchoolFile, RunInfo]) -> tuple[str, bytes]:
    item, run = job
    return item.file_name, encrypt(render(item.school, item.rows, run, item.changes), item.key)


def render_with_bundle(job: tuple[SchoolFile, RunInfo]) -> list[tuple[str, bytes]]:
    """The school's encrypted workbook and, when it has a look-up key and its pseudonyms, its
    look-up bundle: both made wherever the school is rendered (on a 600-school night the
    bundles are 0.8 s that would otherwise wait for validation, in the run's own process).
    Written only if the key is still current then (``with_bundles``)."""
    item, run = job
    made = [render_encrypted(job)]
    if item.lookup is not None and item.row_ids:
        made.append((item.lookup_name, _bundle(item, item.lookup, run, item.row_ids)))
    return made


def batches(files: Sequence[SchoolFile], count: int) -> list[list[SchoolFile]]:
    """``count`` batches of similar total size (largest schools first, round robin), so the
    slowest batch does not hold the run up."""
    ordered = sorted(files, key=lambda f: len(f.rows), reverse=True)
    groups: list[list[SchoolFile]] = [[] for _ in range(max(1, min(count, len(files))))]
    for i, item in enumerate(ordered):
        groups[i % len(groups)].append(item)
    return [g for g in groups if g]


#: Below this many schools, worker processes cost more than they save: with each school's key
#: derivation cached, a file is ~4 ms of rendering and encrypting, and on 2 cores a 600-school
#: run measured 31.5 s and 880 MiB on threads against 32-35 s and 1,114 MiB with two worker
#: processes (their start-up, and a copy of the imports in each).
PROCESSES_FROM_SCHOOLS = 2000


def process_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for rendering and the password hashing, which hold the GIL; they end
    with this process, even a killed one (``databook.workers``)."""
    return worker_pool(workers)


def render_many(items: Sequence[SchoolFile], run: RunInfo,
                pool: Executor | None = None) -> list[tuple[str, bytes]]:
    """Each school's workbook and look-up bundle (``render_with_bundle``), in ``pool`` if
    given."""
    jobs = [(item, run) for item in items]
    made = map(render_with_bundle, jobs) if pool is None else pool.map(render_with_bundle, jobs)
    return [pair for pairs in made for pair in pairs]


def _encrypted(jobs: Sequence[tuple[SchoolFile, RunInfo]],
               workers: int) -> Iterator[tuple[str, bytes]]:
    if workers <= 1 or len(jobs) < 4:
        yield from map(render_encrypted, jobs)
        return
    with process_pool(workers) as pool:
        yield from pool.map(render_encrypted, jobs, chunksize=max(1, len(jobs) // (workers * 8)))


def clean_stale_staging(store: DropStore) -> int:
    """Remove staging folders that an interrupted run left behind."""
    stale = [n for n in store.list_dir() if n.startswith(STAGING_PREFIX)]
    for name in stale:
        store.remove_tree(name, secure=True)
    return len(stale)


def prune(store: DropStore, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` runs, overwriting their files first; the run that
    ``latest`` names is never deleted."""
    current = latest(store)
    doomed = [r for r in runs(store)[:-keep or None] if r != current] if keep > 0 else []
    for run_id in doomed:
        store.remove_tree(run_id, secure=True)
    if doomed:
        log.info("retention: deleted %d run(s) older than the newest %d", len(doomed), keep)
    return doomed


#: Makes the manifest from the files as written, naming the key that will sign it.
ManifestFor = Callable[[Mapping[str, bytes], Signing], bytes]


def write_run(store: DropStore, run_id: str, files: Iterable[tuple[str, bytes]],
              manifest_for: ManifestFor, signing: Signing,
              keep: int = DEFAULT_KEEP) -> str:
    """Stage ``files``, add the manifest made from them and its signature, rename the folder
    into place, move ``latest``, prune. Used by the nightly publish and by key rotation."""
    try:
        store.make_dir("")
    except OSError as exc:
        raise PublishError(f"cannot create the drop {store.describe()}: {exc}") from None
    if cleaned := clean_stale_staging(store):
        log.warning("removed %d staging folder(s) left by an interrupted run", cleaned)
    if store.exists(run_id):
        raise PublishError(f"run {run_id} already exists in {store.describe()}")
    with signing.held() as current:
        _stage_and_rename(store, run_id, files, manifest_for, current)
    store.write(LATEST, f"{run_id}\n".encode())
    prune(store, keep)
    return run_id


def _stage_and_rename(store: DropStore, run_id: str, files: Iterable[tuple[str, bytes]],
                      manifest_for: ManifestFor, signing: Signing) -> None:
    staging = f"{STAGING_PREFIX}{run_id}"
    store.make_dir(staging)
    try:
        written: dict[str, bytes] = {}
        with store.staged(staging) as put:
            for name, data in files:
                put(name, data)
                written[name] = data
            document = manifest_for(written, signing)
            put(manifest.MANIFEST, document)
            put(manifest.SIGNATURE, signing.key.sign(document))
        manifest.publish_keys(store, signing.public_keys, signing.key.key_id)
        store.rename(staging, run_id)
    except OSError as exc:
        store.remove_tree(staging, secure=True)
        raise PublishError(f"writing run {run_id} to {store.describe()} failed: "
                           f"{exc.strerror or exc}") from None
    except BaseException:
        store.remove_tree(staging, secure=True)
        raise


def _under_current_keys(encrypted: Iterable[tuple[str, bytes]], by_name: Mapping[str, SchoolFile],
                        keystore: Keystore | None) -> Iterator[tuple[str, bytes]]:
    """Each file as encrypted, unless its school's password was rotated since: then under the
    new key, so the run never publishes a file that only the old password opens. Consumed
    while the run is written, with the keystore held still. Look-up bundles pass through
    (``with_bundles`` checks their keys)."""
    for name, data in encrypted:
        if name not in by_name:
            yield name, data
            continue
        used = by_name[name].key
        current = (keystore.current_key(by_name[name].school.urn)
                   if keystore is not None and isinstance(used, SchoolKey) else None)
        if isinstance(used, SchoolKey) and current is not None and current != used:
            log.info("school %s's password was rotated during the run: its file is re-keyed",
                     by_name[name].school.urn)
            data = rekey(data, used, current)
        yield name, data


def with_bundles(files: Iterable[tuple[str, bytes]], by_name: Mapping[str, SchoolFile],
                 run: RunInfo, pseudonymise: Pseudonymiser,
                 keystore: Keystore | None) -> Iterator[tuple[str, bytes]]:
    """Each workbook, and each school's look-up bundle (for a school with a look-up key) under
    its current look-up key at the moment the run is written, with the keystore held still: a
    bundle made with the key the run started with (``render_with_bundle``) is kept if that key
    is still current and built again from the same rows if the password was rotated during
    the run, so only the new password opens it, as its workbook is re-keyed; a school whose
    bundle was not made with its workbook gets it built here, after the workbooks."""
    by_bundle = {item.lookup_name: item for item in by_name.values() if item.lookup is not None}
    done: set[str] = set()
    for name, data in files:
        item = by_bundle.get(name)
        if item is not None:
            current = _current_lookup(item, keystore)
            if current != item.lookup:
                data = _bundle(item, current, run, item.pseudonyms(pseudonymise))
            done.add(name)
        yield name, data
    for name, item in by_bundle.items():
        if name not in done:
            yield name, _bundle(item, _current_lookup(item, keystore), run,
                                item.pseudonyms(pseudonymise))


def _current_lookup(item: SchoolFile, keystore: Keystore | None) -> LookupKey:
    current = keystore.current_lookup_key(item.school.urn) if keystore is not None else None
    return current or cast(LookupKey, item.lookup)


def _bundle(item: SchoolFile, key: LookupKey, run: RunInfo, row_ids: Sequence[str]) -> bytes:
    return lookup_bundle.build(key, item.school.urn, run.run_id, run.as_at, item.rows, row_ids)


def _lookup_of(item: SchoolFile, written: Mapping[str, bytes]) -> tuple[str, bytes] | None:
    name = item.lookup_name
    return (name, written[name]) if name in written else None


def publish_run(store: DropStore, run: RunInfo, files: Sequence[SchoolFile], signing: Signing,
                source_rows: Mapping[str, int], *, workers: int = 1,
                keep: int = DEFAULT_KEEP, extra: Mapping[str, Any] | None = None,
                encrypted: Iterable[tuple[str, bytes]] | None = None,
                partners: Sequence[PartnerFile] = ()) -> str:
    """Write every school's file and the signed manifest as one new run; returns its id.

    ``encrypted`` is the files already rendered and encrypted elsewhere (the flow fans that
    out through its task runner); without it they are made here, in ``workers`` processes.
    ``partners`` are partners' files (rendered here: a few per council), in the same run and
    manifest (its ``partners`` section)."""
    by_name = {item.file_name: item for item in files}
    by_partner = {item.file_name: item for item in partners}

    def manifest_for(written: Mapping[str, bytes], signing: Signing) -> bytes:
        now = datetime.now(UTC)
        entries = [manifest.entry_for(
            item.school.urn, item.school.dfe_number, item.school.name, name, data,
            item.pseudonyms(signing.pseudonymise), len(item.rows),
            rows_digest=item.rows_digest,
            updated_at=item.updated_at or manifest.timestamp(now),
            lookup=_lookup_of(item, written))
            for name, data in written.items() if name in by_name for item in (by_name[name],)]
        more = dict(extra or {})
        if partners:
            more[MANIFEST_PARTNERS] = [partner_entry(
                item, written[name], [signing.pseudonymise(p) for p in item.person_ids],
                item.updated_at or manifest.timestamp(now)) for name, item in by_partner.items()]
        return manifest.build(run_id=run.run_id, as_at=run.as_at,
                              generated_at=now, source_rows=source_rows,
                              signing_key_id=signing.key.key_id, entries=entries,
                              extra=more)

    if encrypted is None:
        encrypted = _encrypted([(item, run) for item in files], workers)
    files_and_bundles = with_bundles(
        _under_current_keys(encrypted, by_name, signing.keystore), by_name, run,
        signing.pseudonymise, signing.keystore)
    write_run(store, run.run_id, itertools.chain(
        files_and_bundles, partner_files_under_current_keys(partners, run, signing.keystore)),
        manifest_for, signing, keep)
    log.info("published %d school file(s) as run %s in %s", len(files), run.run_id,
             store.describe())
    return run.run_id
