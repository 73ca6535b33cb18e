"""The signed manifest: what a run published, provably.

``manifest.json`` is canonical JSON (sorted keys, fixed layout) so its bytes are reproducible;
``manifest.json.sig`` is a raw Ed25519 signature over exactly those bytes, which anyone can
check with ``openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin -in
manifest.json -sigfile manifest.json.sig``. Children are listed only as HMAC pseudonyms, so the
manifest can answer "which files held this child?" without naming anyone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from databook.drop import (
    KEYS_DIR,
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    ManifestError,
    canonical,
    key_id_of,
    parse,
    verify,
)
from databook.store import DropStore

FORMAT = 1
__all__ = ["FORMAT", "KEYS_DIR", "MANIFEST", "PUBLIC_KEY", "SIGNATURE", "Entry", "ManifestError",
           "build", "canonical", "entry_for", "key_id_of", "parse", "publish_keys", "verify"]


@dataclass(frozen=True)
class Entry:
    urn: int
    dfe_number: str
    name: str
    file: str
    bytes: int
    sha256: str
    children: int
    members: tuple[str, ...]
    #: Keyed digest of the school's published rows (``transform.row_changes.rows_digest``): a later
    #: run finds the schools whose rows changed without decrypting anything. Empty in
    #: manifests from before it.
    rows_digest: str = ""
    #: When the school's rows last changed (UTC, ``YYYY-MM-DDTHH:MM:SSZ``): what the portal
    #: shows as "updated at 11:05 today". Empty in manifests from before it.
    updated_at: str = ""
    #: The school's look-up bundle (``publish.lookup_bundle``) beside the workbook, its size
    #: and SHA-256; empty (and left out of the manifest) where the run made none.
    lookup_file: str = ""
    lookup_bytes: int = 0
    lookup_sha256: str = ""


def entry_for(urn: int, dfe_number: str, name: str, file: str, data: bytes,
              members: Sequence[str], children: int, *, rows_digest: str = "",
              updated_at: str = "", lookup: tuple[str, bytes] | None = None) -> Entry:
    """``lookup`` is the bundle's (file name, bytes), when the run made one."""
    extra = (lookup[0], len(lookup[1]), hashlib.sha256(lookup[1]).hexdigest()) if lookup else (
        "", 0, "")
    return Entry(urn, dfe_number, name, file, len(data), hashlib.sha256(data).hexdigest(),
                 children, tuple(sorted(members)), rows_digest, updated_at, *extra)


def _entry_json(entry: Entry) -> dict[str, Any]:
    fields = asdict(entry)
    if not entry.lookup_file:
        for name in ("lookup_file", "lookup_bytes", "lookup_sha256"):
            del fields[name]
    return fields


def timestamp(moment: datetime) -> str:
    """A manifest time: UTC to the second."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def code_version() -> str:
    try:
        return version("safeguarding-databook")
    except PackageNotFoundError:
        return "unknown"


def build(*, run_id: str, as_at: date, generated_at: datetime, source_rows: Mapping[str, int],
          signing_key_id: str, entries: Sequence[Entry],
          amends: Mapping[str, str] | None = None,
          extra: Mapping[str, Any] | None = None) -> bytes:
    """The manifest's bytes. ``extra`` adds sections such as the county totals that the next
    run's drift gate compares with, or a drift an officer accepted."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "run_id": run_id,
        "as_at": as_at.isoformat(),
        "generated_at": timestamp(generated_at),
        "code_version": code_version(),
        "source": dict(source_rows),
        "signing_key_id": signing_key_id,
        "schools": [_entry_json(e) for e in sorted(entries, key=lambda e: e.urn)],
    }
    if amends:
        document["amends"] = dict(amends)
    for key, value in (extra or {}).items():
        if key in document:
            raise ValueError(f"manifest section {key!r} is not an extra")
        document[key] = value
    return canonical(document)


def publish_keys(store: DropStore, public_keys: Mapping[str, str], active: str) -> None:
    """The active public key at the drop's root, and every key ever used under signing-keys/,
    so manifests signed before a rotation still verify."""
    store.make_dir(KEYS_DIR)
    for key_id, pem in public_keys.items():
        rel = f"{KEYS_DIR}/{key_id}.pem"
        if not store.exists(rel) or store.read(rel) != pem.encode():
            store.write(rel, pem.encode())
    if not store.exists(PUBLIC_KEY) or store.read(PUBLIC_KEY) != public_keys[active].encode():
        store.write(PUBLIC_KEY, public_keys[active].encode())
