"""The drop, read side: its layout, which run is ``latest``, and signed manifests, verified once.

Both hosts read the drop: the nightly run (the previous run to compare with, ``manifest
verify``), the portal (the file it serves) and the audit (who received which child). Writing a
run (staging, rename, signing) is the nightly run's alone (``publish.drop``).

A manifest is trusted only once its signature verifies with a key the READER holds (the
keystore's, or the portal's configured ones): a key found in the drop proves nothing, since
whoever could change a file there could change that key too. The one exception is a key the
reader's trusted key ENDORSED: ``keys rotate --signing`` writes, beside the new public key,
a statement signed by the key it replaces (``signing-keys/<id>.endorsement.json``), so a
portal that trusted the old key trusts the new one from the moment it is announced, with no
manual step and no refused download (``endorsed``). Whoever can only write the drop cannot
make one: it needs the old private key, which stays in the keystore.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import threading
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from databook.store import DropStore

LATEST = "latest"
STAGING_PREFIX = ".staging-"
RUN_ID = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}$")
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
PUBLIC_KEY = "signing-key.pub.pem"
KEYS_DIR = "signing-keys"
ENDORSEMENT_SUFFIX = ".endorsement.json"
#: What an old key signs to endorse a new one: this line, the new key's id, its PEM.
ENDORSEMENT_CONTEXT = b"safeguarding-databook signing-key endorsement v1\n"


class ManifestError(Exception):
    """A run folder does not match its signed manifest; the message names the file."""


def runs(store: DropStore) -> list[str]:
    """Run ids in the drop, oldest first."""
    return sorted(n for n in store.list_dir() if RUN_ID.match(n) and store.is_dir(n))


def latest(store: DropStore) -> str | None:
    if not store.exists(LATEST):
        return None
    name = store.read(LATEST).decode().strip()
    return name if RUN_ID.match(name) else None


def canonical(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


def parse(data: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(data)
    return document


def key_id_of(pem: str) -> str:
    """The id a manifest names its key by: the first 16 hex digits of the SHA-256 of the raw
    public key."""
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ManifestError("the public key is not an Ed25519 key")
    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def endorsement_statement(key_id: str, pem: str) -> bytes:
    """The bytes an old signing key signs to announce ``pem`` (key ``key_id``)."""
    return ENDORSEMENT_CONTEXT + f"{key_id}\n".encode() + pem.encode()


def endorsement(key_id: str, pem: str, endorsed_by: str, signature: bytes) -> bytes:
    """An endorsement file's bytes (canonical JSON)."""
    return canonical({"format": 1, "key_id": key_id, "public_key": pem,
                      "endorsed_by": endorsed_by,
                      "signature": base64.b64encode(signature).decode()})


def _endorsed_key(data: bytes, trusted: Mapping[str, str]) -> tuple[str, str] | None:
    """(key id, PEM) of the key an endorsement announces, if one of ``trusted`` signed it."""
    try:
        document = parse(data)
        key_id, pem = str(document["key_id"]), str(document["public_key"])
        signer = trusted.get(str(document["endorsed_by"]))
        signature = base64.b64decode(str(document["signature"]), validate=True)
        if signer is None or key_id_of(pem) != key_id:
            return None
        old = load_pem_public_key(signer.encode())
        if not isinstance(old, Ed25519PublicKey):
            return None
        old.verify(signature, endorsement_statement(key_id, pem))
    except (ValueError, KeyError, TypeError, binascii.Error, InvalidSignature, ManifestError):
        return None
    return key_id, pem


def endorsed(store: DropStore, trusted: Mapping[str, str]) -> dict[str, str]:
    """``trusted`` and every key a trusted key endorsed in the drop, followed along the chain
    of rotations (A endorsed B, B endorsed C: all three). An endorsement that does not verify
    is ignored: the manifest its key signed is then refused as signed by an untrusted key."""
    keys = dict(trusted)
    try:
        if not store.exists(KEYS_DIR):
            return keys
        names = [n for n in store.list_dir(KEYS_DIR) if n.endswith(ENDORSEMENT_SUFFIX)]
    except (FileNotFoundError, NotADirectoryError):
        return keys
    pending = {}
    for name in names:
        try:
            pending[name] = store.read(f"{KEYS_DIR}/{name}")
        except FileNotFoundError:
            continue
    grew = True
    while grew and pending:
        grew = False
        for name, data in list(pending.items()):
            found = _endorsed_key(data, keys)
            if found is not None:
                keys.setdefault(*found)
                del pending[name]
                grew = True
    return keys


def _read(store: DropStore, run_id: str, name: str) -> bytes:
    try:
        return store.read(f"{run_id}/{name}")
    except FileNotFoundError:
        raise ManifestError(f"{run_id}/{name} is missing") from None


def signed(data: bytes, signature: bytes, run_id: str,
           public_keys: Mapping[str, str]) -> dict[str, Any]:
    """The manifest's document once its signature verifies with one of ``public_keys``."""
    try:
        document = parse(data)
        key_id = str(document["signing_key_id"])
    except (ValueError, KeyError, TypeError):
        raise ManifestError(f"{run_id}/{MANIFEST} is not a valid manifest") from None
    pem = public_keys.get(key_id)
    if pem is None:
        raise ManifestError(f"{run_id}/{MANIFEST} is signed by key {key_id}, which is not "
                            "trusted here and no trusted key endorsed it (databook portal "
                            "trust-key, with the council's public key)")
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ManifestError(f"key {key_id} is not an Ed25519 key")
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise ManifestError(f"{run_id}/{MANIFEST}: the signature does not match "
                            f"(the manifest or {SIGNATURE} was changed)") from None
    return document


def listed_files(document: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    """Every file a manifest lists, name -> (bytes, SHA-256): each school's workbook and
    look-up bundle, each partner's workbook."""
    found: dict[str, tuple[int, str]] = {}
    for school in document["schools"]:
        found[school["file"]] = (int(school["bytes"]), str(school["sha256"]))
        if school.get("lookup_file"):
            found[school["lookup_file"]] = (int(school["lookup_bytes"]),
                                            str(school["lookup_sha256"]))
    for partner in document.get("partners", []):
        found[partner["file"]] = (int(partner["bytes"]), str(partner["sha256"]))
    return found


def check_files(store: DropStore, run_id: str, document: Mapping[str, Any]) -> None:
    """Every file of the run against the manifest: a file that is missing, changed or not
    listed fails, and the error names it."""
    try:
        listed = listed_files(document)
    except (ValueError, KeyError, TypeError):
        raise ManifestError(f"{run_id}/{MANIFEST} is not a valid manifest") from None
    present = set(store.list_dir(run_id)) - {MANIFEST, SIGNATURE}
    for extra in sorted(present - set(listed)):
        raise ManifestError(f"{run_id}/{extra} is not in the manifest")
    for name, (size, sha256) in sorted(listed.items()):
        content = _read(store, run_id, name)
        if len(content) != size or hashlib.sha256(content).hexdigest() != sha256:
            raise ManifestError(f"{run_id}/{name} does not match its manifest entry")


def verify(store: DropStore, run_id: str, public_keys: Mapping[str, str]) -> dict[str, Any]:
    """Check the signature with a trusted key, then every file's size and hash."""
    document = signed(_read(store, run_id, MANIFEST), _read(store, run_id, SIGNATURE), run_id,
                      public_keys)
    check_files(store, run_id, document)
    return document


class VerifiedManifests:
    """The one cache of verified manifests, per process: a run's signature (and, when asked,
    its files) is checked once, and again only when the manifest's or signature's bytes
    change, since each use re-reads those two small files."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: run id -> (digest of manifest and signature bytes, document, files checked too)
        self._seen: dict[str, tuple[bytes, dict[str, Any], bool]] = {}

    def get(self, store: DropStore, run_id: str, public_keys: Mapping[str, str], *,
            files: bool = False) -> dict[str, Any]:
        """The run's manifest, its signature verified (and with ``files``, every file)."""
        data, signature = _read(store, run_id, MANIFEST), _read(store, run_id, SIGNATURE)
        digest = hashlib.sha256(hashlib.sha256(data).digest() + signature).digest()
        with self._lock:
            cached = self._seen.get(run_id)
        if cached is not None and cached[0] == digest and (cached[2] or not files):
            return cached[1]
        document = signed(data, signature, run_id, public_keys)
        if files:
            check_files(store, run_id, document)
        with self._lock:
            self._seen[run_id] = (digest, document, files)
        return document

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._seen.pop(run_id, None)
