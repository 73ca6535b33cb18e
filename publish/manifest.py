"""The signed manifest: what a run published, provably.

``manifest.json`` is canonical JSON (sorted keys, fixed layout) so its bytes are reproducible;
``manifest.json.sig`` is a raw Ed25519 signature over exactly those bytes, which anyone can
check with ``openssl pkeyutl -verify -pubin -inkey signing-key.pub.pem -rawin -in
manifest.json -sigfile manifest.json.sig``. Children are listed only as HMAC pseudonyms, so the
manifest can answer "which files held this child?" without naming anyone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from publish.errors import PublishError
from publish.store import DropStore

FORMAT = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
PUBLIC_KEY = "signing-key.pub.pem"
KEYS_DIR = "signing-keys"


class ManifestError(PublishError):
    """A run folder does not match its signed manifest; the message names the file."""


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
    #: Keyed digest of the school's published rows (``transform.changes.rows_digest``): a later
    #: run finds the schools whose rows changed without decrypting anything. Empty in
    #: manifests from before it.
    rows_digest: str = ""
    #: When the school's rows last changed (UTC, ``YYYY-MM-DDTHH:MM:SSZ``): what the portal
    #: shows as "updated at 11:05 today". Empty in manifests from before it.
    updated_at: str = ""


def entry_for(urn: int, dfe_number: str, name: str, file: str, data: bytes,
              members: Sequence[str], children: int, *, rows_digest: str = "",
              updated_at: str = "") -> Entry:
    return Entry(urn, dfe_number, name, file, len(data), hashlib.sha256(data).hexdigest(),
                 children, tuple(sorted(members)), rows_digest, updated_at)


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
        "schools": [asdict(e) for e in sorted(entries, key=lambda e: e.urn)],
    }
    if amends:
        document["amends"] = dict(amends)
    for key, value in (extra or {}).items():
        if key in document:
            raise ValueError(f"manifest section {key!r} is not an extra")
        document[key] = value
    return canonical(document)


def canonical(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def parse(data: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(data)
    return document


def verify(store: DropStore, run_id: str, public_keys: Mapping[str, str]) -> dict[str, Any]:
    """Check the signature with a trusted key, then every file's size and hash; a file that is
    missing, changed or not listed fails, and the error names it."""
    document = verify_signature(store, run_id, public_keys)

    def read(name: str) -> bytes:
        try:
            return store.read(f"{run_id}/{name}")
        except FileNotFoundError:
            raise ManifestError(f"{run_id}/{name} is missing") from None

    listed = {school["file"]: school for school in document["schools"]}
    present = set(store.list_dir(run_id)) - {MANIFEST, SIGNATURE}
    for extra in sorted(present - set(listed)):
        raise ManifestError(f"{run_id}/{extra} is not in the manifest")
    for name, school in sorted(listed.items()):
        content = read(name)
        if len(content) != school["bytes"] or hashlib.sha256(content).hexdigest() != school[
                "sha256"]:
            raise ManifestError(f"{run_id}/{name} does not match its manifest entry")
    return document


def verify_signature(store: DropStore, run_id: str,
                     public_keys: Mapping[str, str]) -> dict[str, Any]:
    """The manifest, if its signature verifies with a trusted key (the files are not read:
    a reader that checks each file it serves, like the portal, refuses only a changed one,
    not the whole run; issue 19)."""
    def read(name: str) -> bytes:
        try:
            return store.read(f"{run_id}/{name}")
        except FileNotFoundError:
            raise ManifestError(f"{run_id}/{name} is missing") from None

    data, signature = read(MANIFEST), read(SIGNATURE)
    try:
        document = parse(data)
        key_id = str(document["signing_key_id"])
    except (ValueError, KeyError, TypeError):
        raise ManifestError(f"{run_id}/{MANIFEST} is not a valid manifest") from None
    pem = public_keys.get(key_id)
    if pem is None:
        raise ManifestError(f"{run_id}/{MANIFEST} is signed by key {key_id}, which is not trusted")
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ManifestError(f"key {key_id} is not an Ed25519 key")
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise ManifestError(f"{run_id}/{MANIFEST}: the signature does not match "
                            f"(the manifest or {SIGNATURE} was changed)") from None
    return document


def key_id_of(pem: str) -> str:
    """The id a manifest names its key by: the first 16 hex digits of the SHA-256 of the raw
    public key."""
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ManifestError("the public key is not an Ed25519 key")
    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


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
