"""What the portal may serve: the school's file from the drop's ``latest`` run, exactly as
published, and only after the run's manifest has verified against the council's public keys
from the PORTAL'S OWN configuration (a key found in the drop proves nothing: whoever could
change a file there could change the key too).

The manifest's signature is checked (``publish.manifest.verify_signature``) and the result
kept per run, keyed by the exact manifest and signature bytes; each download then re-reads
those two files (a changed manifest or signature is verified afresh, and fails) and checks
the served file's size and SHA-256 against the verified manifest. A changed file therefore
blocks its own school only, never every school in the run (issue 19). The portal never
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
from zoneinfo import ZoneInfo

from publish import drop as drop_layout
from publish.manifest import MANIFEST, SIGNATURE, ManifestError, key_id_of, verify_signature
from publish.store import DropStore

SAFE_NAME = re.compile(r"[^A-Za-z0-9 ._'()-]+")
LONDON = ZoneInfo("Europe/London")


class Unavailable(Exception):
    """The databook cannot be served. ``what`` is the ledger's word for it; the message is
    safe to show (it names files, never contents)."""

    def __init__(self, what: str, message: str, run_id: str | None = None) -> None:
        super().__init__(message)
        self.what, self.run_id = what, run_id


@dataclass(frozen=True)
class SchoolFile:
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
        day = "today" if local.date() == today else f"on {local.date().isoformat()}"
        return f"updated at {local:%H:%M} {day}"

    @property
    def published_label(self) -> str:
        """When the run was published, as a person reads it in London ("22 November 2026 at
        07:47"); the manifest's own text when it is not in the expected form."""
        try:
            moment = datetime.strptime(self.published_at, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            return self.published_at
        local = moment.replace(tzinfo=UTC).astimezone(LONDON)
        return f"{local.day} {local:%B %Y} at {local:%H:%M}"

    @property
    def download_name(self) -> str:
        """``<school name> safeguarding databook <as-at>.xlsx``, safe in any file system."""
        name = SAFE_NAME.sub("", self.name).strip() or f"School {self.urn}"
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
        self._lock = threading.Lock()
        self._verified: dict[str, tuple[bytes, bytes, dict[str, Any]]] = {}
        #: (run, file) found changed when served: refused at once on its school's pages
        #: until it matches again; every other school's file is still served (issue 19).
        self._changed: set[tuple[str, str]] = set()

    def _document(self, store: DropStore, run_id: str) -> dict[str, Any]:
        try:
            data = store.read(f"{run_id}/{MANIFEST}")
            signature = store.read(f"{run_id}/{SIGNATURE}")
        except FileNotFoundError:
            raise Unavailable("unsigned", f"run {run_id} has no signed manifest",
                              run_id) from None
        with self._lock:
            cached = self._verified.get(run_id)
        if cached and cached[0] == data and cached[1] == signature:
            return cached[2]
        keys = self._keys()
        if not keys:
            raise Unavailable("no_trusted_key", "the portal trusts no manifest key yet", run_id)
        try:
            # The signature only: each file is checked as it is served (``read``), so one
            # changed file blocks its own school, not every school (issue 19).
            document = verify_signature(store, run_id, keys)
        except ManifestError as exc:
            raise Unavailable("tampered", str(exc), run_id) from None
        with self._lock:
            self._verified = {run_id: (data, signature, document)}  # only the newest run
        return document

    def current(self, urn: int) -> SchoolFile:
        """The school's entry in the verified ``latest`` run."""
        store = self._open()
        try:
            run_id = drop_layout.latest(store)
            if run_id is None:
                raise Unavailable("nothing_published", "nothing has been published yet")
            document = self._document(store, run_id)
        finally:
            store.close()
        for school in document.get("schools", []):
            if school.get("urn") == urn:
                found = SchoolFile(run_id, str(document["as_at"]),
                                   str(document["generated_at"]), urn, str(school["name"]),
                                   str(school["file"]), int(school["bytes"]),
                                   str(school["sha256"]), int(school["children"]),
                                   str(school.get("updated_at") or ""))
                with self._lock:
                    changed = (run_id, found.file) in self._changed
                if changed:
                    self.read(found)  # still changed: Unavailable; put right: served again
                return found
        raise Unavailable("not_published", f"the latest run has no databook for school {urn}",
                          run_id)

    def read(self, entry: SchoolFile) -> bytes:
        """The file's bytes, re-checked against the (re-verified) manifest at the moment of
        serving: a file changed after the run was verified is refused, never served."""
        store = self._open()
        try:
            fresh = self._document(store, entry.run_id)
            listed = {s["file"]: s for s in fresh["schools"]}.get(entry.file)
            if listed is None or listed.get("urn") != entry.urn:
                raise Unavailable("tampered", f"{entry.run_id}/{entry.file} is not listed",
                                  entry.run_id)
            try:
                data = store.read(f"{entry.run_id}/{entry.file}")
            except FileNotFoundError:
                raise Unavailable("missing", f"{entry.run_id}/{entry.file} is missing",
                                  entry.run_id) from None
        finally:
            store.close()
        with self._lock:
            self._changed.discard((entry.run_id, entry.file))
        if len(data) != listed["bytes"] or hashlib.sha256(data).hexdigest() != listed["sha256"]:
            with self._lock:
                self._changed.add((entry.run_id, entry.file))
            raise Unavailable("tampered", f"{entry.run_id}/{entry.file} does not match its "
                                          "signed manifest entry", entry.run_id)
        return data
