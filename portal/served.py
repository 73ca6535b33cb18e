"""What the portal may serve: the school's file from the drop's ``latest`` run, exactly as
published, and only after the run's manifest has verified against the council's public keys
from the PORTAL'S OWN configuration (a key found in the drop proves nothing: whoever could
change a file there could change the key too).

Each run's manifest signature is checked once (``databook.drop.VerifiedManifests``, kept per
run, keyed by the exact manifest and signature bytes); each download then re-reads those two
files (a changed manifest or signature is verified afresh, and fails) and checks the served
file's size and SHA-256 against the verified manifest. A changed file therefore blocks its own
school only, never every school in the run. The portal never
builds a path from anything a user sent: the run comes from ``latest``, the file name from
the signed manifest.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from databook.clock import LONDON, govuk_date, govuk_time, govuk_when
from databook.drop import (
    MANIFEST,
    SIGNATURE,
    ManifestError,
    VerifiedManifests,
    endorsed,
    key_id_of,
    latest,
    listed_files,
)
from databook.store import DropStore

SAFE_NAME = re.compile(r"[^A-Za-z0-9 ._'()-]+")


class Unavailable(Exception):
    """The databook cannot be served. ``what`` is the ledger's word for it; the message is
    safe to show (it names files, never contents)."""

    def __init__(self, what: str, message: str, run_id: str | None = None) -> None:
        super().__init__(message)
        self.what, self.run_id = what, run_id


@dataclass(frozen=True)
class ServedFile:
    run_id: str
    as_at: str
    published_at: str
    urn: int
    name: str
    file: str
    size: int
    sha256: str
    children: int
    #: When the school's rows last changed (the manifest's per-school ``updated_at``, UTC),
    #: or "" for a manifest from before the nightly run recorded it.
    updated_at: str = ""
    #: The school's look-up bundle, its size and SHA-256: "" when the run has none.
    lookup_file: str = ""
    lookup_size: int = 0
    lookup_sha256: str = ""

    def updated_label(self, now: datetime | None = None) -> str:
        """"updated at 11:05 today" (or "on 2026-11-20"), in the school's own time zone, so
        a DSL can tell at a glance whether this morning's file differs from yesterday's;
        "" when the manifest does not say."""
        try:
            moment = datetime.strptime(self.updated_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return ""
        local = moment.astimezone(LONDON)
        today = (now or datetime.now(UTC)).astimezone(LONDON).date()
        day = "today" if local.date() == today else f"on {govuk_date(local.date())}"
        return f"updated at {govuk_time(moment)} {day}"

    @property
    def published_label(self) -> str:
        """When the run was published, as a person reads it in London ("22 November 2026 at
        07:47"); the manifest's own text when it is not in the expected form."""
        try:
            moment = datetime.strptime(self.published_at, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return self.published_at
        return govuk_when(moment.replace(tzinfo=UTC))

    @property
    def download_name(self) -> str:
        """``<school name> safeguarding databook <as-at>.xlsx``, safe in any file system."""
        name = SAFE_NAME.sub("", self.name).strip() or f"School {self.urn}"
        return f"{name} safeguarding databook {self.as_at}.xlsx"


@dataclass(frozen=True)
class PartnerFileEntry:
    """A partner's file in the latest run, as its manifest entry says."""

    run_id: str
    as_at: str
    published_at: str
    partner_id: str
    name: str
    file: str
    size: int
    sha256: str
    children: int

    @property
    def published_label(self) -> str:
        return ServedFile(self.run_id, self.as_at, self.published_at, 0, self.name, self.file,
                          self.size, self.sha256, self.children).published_label

    @property
    def download_name(self) -> str:
        name = SAFE_NAME.sub("", self.name).strip() or f"Partner {self.partner_id}"
        return f"{name} safeguarding databook {self.as_at}.xlsx"


def trusted_keys(pem_files: list[Path]) -> dict[str, str]:
    """Key id -> PEM, from the portal's configured files (``databook portal trust-key``)."""
    keys: dict[str, str] = {}
    for path in pem_files:
        pem = path.read_text("ascii")
        keys[key_id_of(pem)] = pem
    return keys


class Published:
    """The drop as the portal sees it: read-only, verified, cached per run."""

    def __init__(self, open_store: Callable[[], DropStore],
                 keys: Callable[[], Mapping[str, str]]) -> None:
        self._open = open_store
        self._keys = keys
        self._manifests = VerifiedManifests()
        self._lock = threading.Lock()
        #: (run, file) found changed when served: refused at once on its school's pages
        #: until it matches again; every other school's file is still served.
        self._changed: set[tuple[str, str]] = set()
        #: Runs found whole (``_whole``): every listed file present at its full size.
        self._whole_runs: set[str] = set()

    def _document(self, store: DropStore, run_id: str) -> dict[str, Any]:
        if not store.exists(f"{run_id}/{MANIFEST}") or not store.exists(f"{run_id}/{SIGNATURE}"):
            raise Unavailable("unsigned", f"run {run_id} has no signed manifest", run_id)
        trusted = self._keys()
        if not trusted:
            raise Unavailable("no_trusted_key", "the portal trusts no manifest key yet", run_id)
        keys = endorsed(store, trusted)  # a rotated key its trusted predecessor announced
        try:
            # The signature only: each file is checked as it is served (``_checked``), so one
            # changed file blocks its own school, not every school.
            document = self._manifests.get(store, run_id, keys)
        except ManifestError as exc:
            raise Unavailable("tampered", str(exc), run_id) from None
        self._whole(store, run_id, document)
        return document

    def _whole(self, store: DropStore, run_id: str, document: dict[str, Any]) -> None:
        """A run is served only once every file its manifest lists is there at its full size:
        a run copied by hand (or a copy still under way) is "incomplete", never half served.
        Checked by size, once per run: each served file's hash is checked as it is read."""
        with self._lock:
            if run_id in self._whole_runs:
                return
        try:
            listed = listed_files(document)
            for name, (size, _) in sorted(listed.items()):
                if store.size(f"{run_id}/{name}") != size:
                    raise FileNotFoundError(name)
        except FileNotFoundError as exc:
            raise Unavailable("incomplete", f"run {run_id} has not fully arrived ({exc} is "
                              "missing or short): none of it is served until it has",
                              run_id) from None
        except (ValueError, KeyError, TypeError):
            raise Unavailable("tampered", f"{run_id}/{MANIFEST} is not a valid manifest",
                              run_id) from None
        with self._lock:
            self._whole_runs.add(run_id)

    def _latest(self) -> tuple[str, dict[str, Any]]:
        store = self._open()
        try:
            run_id = latest(store)
            if run_id is None:
                raise Unavailable("nothing_published", "nothing has been published yet")
            return run_id, self._document(store, run_id)
        finally:
            store.close()

    def current(self, urn: int) -> ServedFile:
        """The school's entry in the verified ``latest`` run."""
        run_id, document = self._latest()
        for school in document.get("schools", []):
            if school.get("urn") == urn:
                found = ServedFile(run_id, str(document["as_at"]),
                                   str(document["generated_at"]), urn, str(school["name"]),
                                   str(school["file"]), int(school["bytes"]),
                                   str(school["sha256"]), int(school["children"]),
                                   str(school.get("updated_at") or ""),
                                   str(school.get("lookup_file") or ""),
                                   int(school.get("lookup_bytes") or 0),
                                   str(school.get("lookup_sha256") or ""))
                with self._lock:
                    changed = (run_id, found.file) in self._changed
                if changed:
                    self.read(found)  # still changed: Unavailable; put right: served again
                return found
        raise Unavailable("not_published", f"the latest run has no databook for school {urn}",
                          run_id)

    def current_partner(self, partner_id: str) -> PartnerFileEntry:
        """The partner's entry in the verified ``latest`` run."""
        run_id, document = self._latest()
        for partner in document.get("partners", []):
            if partner.get("partner_id") == partner_id:
                return PartnerFileEntry(run_id, str(document["as_at"]),
                                        str(document["generated_at"]), partner_id,
                                        str(partner["name"]), str(partner["file"]),
                                        int(partner["bytes"]), str(partner["sha256"]),
                                        int(partner["children"]))
        raise Unavailable("not_published", f"the latest run has no databook for partner "
                                           f"{partner_id}", run_id)

    def _checked(self, run_id: str, name: str, owned: Callable[[dict[str, Any]], bool],
                 section: str, keys: tuple[str, str, str]) -> bytes:
        """A file of a run, read now and checked against the (re-verified) manifest entry
        that lists it under ``keys`` (file, bytes, sha256) and that ``owned`` accepts: a file
        changed after the run was verified is refused, never served."""
        store = self._open()
        try:
            fresh = self._document(store, run_id)
            listed = {e.get(keys[0]): e for e in fresh.get(section, [])}.get(name)
            if listed is None or not owned(listed):
                raise Unavailable("tampered", f"{run_id}/{name} is not listed", run_id)
            try:
                data = store.read(f"{run_id}/{name}")
            except FileNotFoundError:
                raise Unavailable("missing", f"{run_id}/{name} is missing", run_id) from None
        finally:
            store.close()
        with self._lock:
            self._changed.discard((run_id, name))
        if len(data) != listed[keys[1]] or hashlib.sha256(data).hexdigest() != listed[keys[2]]:
            with self._lock:
                self._changed.add((run_id, name))
            raise Unavailable("tampered", f"{run_id}/{name} does not match its signed manifest "
                                          "entry", run_id)
        return data

    def read(self, entry: ServedFile, lookup: bool = False) -> bytes:
        """The school's file (``lookup``: its look-up bundle), checked at the moment of
        serving."""
        if lookup and not entry.lookup_file:
            raise Unavailable("not_published", f"run {entry.run_id} has no look-up bundle for "
                              f"school {entry.urn}", entry.run_id)
        keys = ("lookup_file", "lookup_bytes", "lookup_sha256") if lookup else (
            "file", "bytes", "sha256")
        return self._checked(entry.run_id, entry.lookup_file if lookup else entry.file,
                             lambda e: e.get("urn") == entry.urn, "schools", keys)

    def read_partner(self, entry: PartnerFileEntry) -> bytes:
        """As ``read``, for a partner's file."""
        return self._checked(entry.run_id, entry.file,
                             lambda e: e.get("partner_id") == entry.partner_id, "partners",
                             ("file", "bytes", "sha256"))
