"""What the audit commands read besides the ledger: the portal database, the drop's manifests,
the school roll's phases, the case source (for ``audit child`` only) and the witness's key.

Each opens only what one command needs, read-only, so ``audit verify`` on a portal host never
touches the keystore and ``audit child`` never reads more than one person's identifiers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, create_engine, or_, select

from databook.drop import (
    MANIFEST,
    SIGNATURE,
    ManifestError,
    VerifiedManifests,
    endorsed,
    key_id_of,
    latest,
    runs,
)
from databook.ledger.config import AuditError, LedgerConfig
from databook.ledger.note import Signer, cosigner
from databook.settings import KEYSTORE_FILE, HostSettings
from databook.store import DropStore
from schemas.codes import REFERENCE_UPN
from schemas.source import DM_PERSON_REFERENCES, DM_PERSONS, EDU_SCHOOLS

__all__ = ["AuditError", "latest_manifest", "manifest_keys", "manifests", "person_id",
           "pseudonym", "school_phases", "signed_manifest", "witness_signer"]


def manifest_keys(settings: HostSettings) -> dict[str, str]:
    """The manifest keys an audit trusts, by key id: the keystore's (every signing key ever
    used) where the keystore is, else the portal's configured and ``trust-key`` keys. Never a
    key found in the drop: whoever could change a manifest there could change that key too."""
    if (Path(settings.home) / KEYSTORE_FILE).exists():
        from publish.keystore import Keystore  # the council's host only: it has the keystore

        return Keystore.open(settings.home, settings.master_key).public_keys()
    files = list(settings.portal.public_keys)
    folder = settings.portal.trusted_keys_dir
    if folder.is_dir():
        files += sorted(folder.glob("*.pem"))
    keys = {}
    for path in files:
        pem = Path(path).read_text("ascii")
        keys[key_id_of(pem)] = pem
    if not keys:
        raise AuditError("no trusted manifest key here: run this where the keystore is, or "
                         "trust the council's key (databook portal trust-key)")
    return keys


#: Each run's signature is checked once per process, and again only if its bytes change. Only
#: the signature: the reports need the manifest's members, not the workbooks, so the files'
#: hashes are ``databook manifest verify``'s job.
MANIFESTS = VerifiedManifests()


def signed_manifest(store: DropStore, run_id: str, keys: dict[str, str]) -> dict[str, Any]:
    """A run's manifest, trusted only once its signature verifies with ``keys``."""
    if not store.exists(f"{run_id}/{MANIFEST}") or not store.exists(f"{run_id}/{SIGNATURE}"):
        raise AuditError(f"run {run_id} in the drop has no signed manifest")
    try:
        return MANIFESTS.get(store, run_id, keys)
    except ManifestError as exc:
        raise AuditError(f"{exc}: nothing in it is trusted (databook manifest verify "
                         f"{run_id})") from None


def manifests(settings: HostSettings) -> dict[str, dict[str, Any]]:
    """Every run still in the drop, by run id: its signature-checked manifest (runs pruned
    from the drop are simply absent; a manifest that fails its signature stops the report)."""
    keys = manifest_keys(settings)
    store = settings.open_drop()
    try:
        keys = endorsed(store, keys)
        return {run_id: signed_manifest(store, run_id, keys) for run_id in runs(store)}
    finally:
        store.close()


def latest_manifest(settings: HostSettings) -> tuple[str, dict[str, Any]]:
    """The run ``latest`` names, with its signature-checked manifest."""
    keys = manifest_keys(settings)
    store = settings.open_drop()
    try:
        run_id = latest(store)
        if run_id is None:
            raise AuditError(f"the drop {store.describe()} has no published run yet")
        return run_id, signed_manifest(store, run_id, endorsed(store, keys))
    finally:
        store.close()


def school_phases(settings: HostSettings) -> dict[int, str]:
    """EDU_SCHOOLS.PHASE by URN, from the school roll."""
    engine = create_engine(settings.roll_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(EDU_SCHOOLS.c.SCHOOL_URN, EDU_SCHOOLS.c.PHASE))
            return {int(urn): str(phase or "unknown") for urn, phase in rows}
    finally:
        engine.dispose()


def person_id(settings: HostSettings, upn_or_id: str) -> int:
    """A case person id: given directly, or found from a UPN (current, former, or a UPN
    reference) in the case source. Nothing else about the person is read."""
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


def pseudonym(settings: HostSettings, person: int) -> str:
    from publish.keystore import Keystore  # the council's host only

    return Keystore.open(settings.home, settings.master_key).pseudonymiser()(person)


def witness_signer(settings: HostSettings, config: LedgerConfig) -> Signer:
    """The witness's key, from the council's keystore (``Keystore.witness_key``): only where
    the keystore is (the nightly host), never on the portal host."""
    from publish.keystore import Keystore  # the council's host only

    key = Keystore.open(settings.home, settings.master_key).witness_key()
    return cosigner(config.witness_name, bytes.fromhex(key.private_hex))
