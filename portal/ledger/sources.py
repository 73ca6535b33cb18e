"""What the audit commands read besides the ledger: the portal database, the drop's manifests,
the school roll's phases, the case source (for ``audit child`` only) and the witness's key.

Each opens only what one command needs, read-only, so ``audit verify`` on a portal host never
touches the keystore and ``audit child`` never reads more than one person's identifiers.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import ColumnElement, Engine, create_engine, inspect, or_, select
from sqlalchemy.orm import Session

from portal.ledger.config import LedgerConfig
from portal.ledger.note import ALG_COSIGNATURE_V1, Signer


class AuditError(Exception):
    """An audit command cannot run; the message is one safe line."""


def ledger_engine(config: LedgerConfig) -> Engine:
    """The portal database, which must already hold the ledger's tables (the portal makes
    them; an audit command never creates a database by mistake)."""
    from portal.db import engine_for

    url = config.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise AuditError(f"there is no portal database at {url.removeprefix('sqlite:///')} "
                         "yet: run `databook users add` or `databook portal serve` first (or "
                         "set DATABOOK_PORTAL_DATABASE_URL)")
    engine = engine_for(url)
    if not inspect(engine).has_table("ledger_entries"):
        raise AuditError("the portal database has no ledger tables yet: run `databook users "
                         "add` or `databook portal serve` first")
    return engine


def manifest_keys(settings: Any) -> dict[str, str]:
    """The manifest keys an audit trusts, by key id: the keystore's (every signing key ever
    used) where the keystore is, else the portal's configured and ``trust-key`` keys. Never a
    key found in the drop: whoever could change a manifest there could change that key too."""
    from publish.keystore import KEYSTORE_FILE, Keystore
    from publish.manifest import key_id_of

    if (Path(settings.home) / KEYSTORE_FILE).exists():
        return Keystore.open(settings.home, settings.master_key).public_keys()
    portal = getattr(settings, "portal", None)
    files = list(getattr(portal, "public_keys", ()))
    folder = getattr(portal, "trusted_keys_dir", None)
    if folder is not None and Path(folder).is_dir():
        files += sorted(Path(folder).glob("*.pem"))
    keys = {}
    for path in files:
        pem = Path(path).read_text("ascii")
        keys[key_id_of(pem)] = pem
    if not keys:
        raise AuditError("no trusted manifest key here: run this where the keystore is, or "
                         "trust the council's key (databook portal trust-key)")
    return keys


#: run id -> (digest of the manifest's and signature's bytes, the verified document): each
#: run's signature is checked once per process, and again only if its bytes change.
_VERIFIED: dict[str, tuple[bytes, dict[str, Any]]] = {}
_VERIFIED_LOCK = threading.Lock()


def signed_manifest(store: Any, run_id: str, keys: dict[str, str]) -> dict[str, Any]:
    """A run's manifest, trusted only once its signature verifies with ``keys``. Only the
    signature: the reports need the manifest's members, not the workbooks, so the files'
    hashes are ``databook manifest verify``'s job."""
    from publish.manifest import MANIFEST, SIGNATURE, parse

    try:
        data = store.read(f"{run_id}/{MANIFEST}")
        signature = store.read(f"{run_id}/{SIGNATURE}")
    except FileNotFoundError:
        raise AuditError(f"run {run_id} in the drop has no signed manifest") from None
    digest = hashlib.sha256(hashlib.sha256(data).digest() + signature).digest()
    with _VERIFIED_LOCK:
        cached = _VERIFIED.get(run_id)
    if cached is not None and cached[0] == digest:
        return cached[1]
    try:
        document = parse(data)
        key_id = str(document["signing_key_id"])
    except (ValueError, KeyError, TypeError):
        raise AuditError(f"run {run_id}'s manifest is not a valid manifest") from None
    pem = keys.get(key_id)
    key = None if pem is None else load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise AuditError(f"run {run_id}'s manifest is signed by key {key_id}, which is not "
                         "trusted here")
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise AuditError(f"run {run_id}'s manifest does not match its signature: nothing in "
                         f"it is trusted (databook manifest verify {run_id})") from None
    with _VERIFIED_LOCK:
        _VERIFIED[run_id] = (digest, document)
    return document


def manifests(settings: Any) -> dict[str, dict[str, Any]]:
    """Every run still in the drop, by run id: its signature-checked manifest (runs pruned
    from the drop are simply absent; a manifest that fails its signature stops the report)."""
    from publish.drop import runs

    keys = manifest_keys(settings)
    store = settings.open_drop()
    try:
        return {run_id: signed_manifest(store, run_id, keys) for run_id in runs(store)}
    finally:
        store.close()


def latest_manifest(settings: Any) -> tuple[str, dict[str, Any]]:
    """The run ``latest`` names, with its signature-checked manifest."""
    from publish.drop import latest

    keys = manifest_keys(settings)
    store = settings.open_drop()
    try:
        run_id = latest(store)
        if run_id is None:
            raise AuditError(f"the drop {store.describe()} has no published run yet")
        return run_id, signed_manifest(store, run_id, keys)
    finally:
        store.close()


def school_phases(settings: Any) -> dict[int, str]:
    """EDU_SCHOOLS.PHASE by URN, from the school roll."""
    from schemas.source import EDU_SCHOOLS

    engine = create_engine(settings.roll_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(EDU_SCHOOLS.c.SCHOOL_URN, EDU_SCHOOLS.c.PHASE))
            return {int(urn): str(phase or "unknown") for urn, phase in rows}
    finally:
        engine.dispose()


def person_id(settings: Any, upn_or_id: str) -> int:
    """A case person id: given directly, or found from a UPN (current, former, or a UPN
    reference) in the case source. Nothing else about the person is read."""
    from schemas.codes import REFERENCE_UPN
    from schemas.source import DM_PERSON_REFERENCES, DM_PERSONS

    text = upn_or_id.strip().upper()
    if text.isdigit():
        return int(text)
    if len(text) != 13 or not text[0].isalpha():
        raise AuditError("give a 13-character UPN or a case person id (digits)")
    upn: ColumnElement[Any] = DM_PERSONS.c.UPN_ID
    former: ColumnElement[Any] = DM_PERSONS.c.FORMER_UPN_ID
    ref_type: ColumnElement[Any] = DM_PERSON_REFERENCES.c.REFERENCE_TYPE
    ref: ColumnElement[Any] = DM_PERSON_REFERENCES.c.REFERENCE
    engine = create_engine(settings.source_url)
    try:
        with engine.connect() as conn:
            ids = set(conn.scalars(select(DM_PERSONS.c.PERSON_ID).where(
                or_(upn == text, former == text))))
            ids |= set(conn.scalars(select(DM_PERSON_REFERENCES.c.PERSON_ID).where(
                ref_type == REFERENCE_UPN, ref == text)))
    finally:
        engine.dispose()
    if len(ids) != 1:
        raise AuditError("that UPN matches no case person" if not ids else
                         f"that UPN matches {len(ids)} case persons; give the person id")
    return int(ids.pop())


def pseudonym(settings: Any, person: int) -> str:
    from publish.keystore import Keystore

    return Keystore.open(settings.home, settings.master_key).pseudonymiser()(person)


def witness_signer(settings: Any, config: LedgerConfig) -> Signer:
    """The witness's key, from the council's keystore (``Keystore.witness_key``)."""
    from publish.keystore import Keystore

    key = Keystore.open(settings.home, settings.master_key).witness_key()
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(key.private_hex))
    return Signer(config.witness_name, private, ALG_COSIGNATURE_V1)


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
