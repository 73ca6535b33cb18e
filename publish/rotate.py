"""Key rotation, published as a signed amendment: a new run folder that copies the latest run,
with the rotated school's file re-encrypted, and a manifest that says what it amends and why.

Old runs keep their files as they were (still under the old password) until retention deletes
them; ``databook keys rotate --school`` tells the officer so.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime

from databook.drop import (
    ENDORSEMENT_SUFFIX,
    KEYS_DIR,
    endorsement,
    endorsement_statement,
    latest,
)
from databook.store import DropStore
from publish import lookup_bundle, manifest
from publish.drop import DEFAULT_KEEP, Signing, new_run_id, write_run
from publish.encrypt import SchoolKey, decrypt, decrypt_with_key, encrypt
from publish.errors import PublishError
from publish.keystore import Keystore
from schemas.partners import MANIFEST_PARTNERS

log = logging.getLogger(__name__)

#: Manifest sections a rotation copies as they were (partners' files are copied unchanged).
CARRIED = ("totals", "drift", MANIFEST_PARTNERS)


def rotate_school(store: DropStore, keystore: Keystore, urn: int,
                  keep: int = DEFAULT_KEEP) -> str:
    """Give one school a new password and re-publish the latest run under it.

    The keystore is held still throughout: two rotations, or a rotation and a nightly run's
    publication, take turns, so the run that ends up ``latest`` always opens with the
    password the keystore holds."""
    with keystore.locked():
        return _rotate_school(store, keystore, urn, keep)


def _rotate_school(store: DropStore, keystore: Keystore, urn: int, keep: int) -> str:
    current = latest(store)
    if current is None:
        raise PublishError(f"the drop {store.describe()} has no latest run to re-encrypt")
    document = manifest.verify(store, current, keystore.public_keys())
    entries = [manifest.Entry(**{**s, "members": tuple(s["members"])})
               for s in document["schools"]]
    target = next((e for e in entries if e.urn == urn), None)
    if target is None:
        raise PublishError(f"school {urn} is not in run {current}")
    old_password = keystore.password(urn)
    plain = _open(store.read(f"{current}/{target.file}"), old_password, keystore.current_key(urn))
    old_bundle = store.read(f"{current}/{target.lookup_file}") if target.lookup_file else None
    old_lookup = (lookup_bundle.old_key(old_bundle, keystore.current_lookup_key(urn),
                                        old_password) if old_bundle is not None else None)
    new_password = keystore.rotate_password(urn)
    new_key = keystore.school_key(urn)
    run_id = new_run_id()
    files = [(e.file, encrypt(plain, new_key) if e.urn == urn
              else store.read(f"{current}/{e.file}")) for e in entries]
    if old_bundle is not None and old_lookup is not None:
        # the rotated school's bundle, re-sealed for this run under the new password's key
        new_lookup = keystore.ensure_lookup_keys([urn])[urn]
        files.append((target.lookup_file, lookup_bundle.reseal(old_bundle, old_lookup,
                                                               new_lookup, run_id)))
    files += [(e.lookup_file, store.read(f"{current}/{e.lookup_file}"))
              for e in entries if e.lookup_file and e.urn != urn]
    files += [(str(p["file"]), store.read(f"{current}/{p['file']}"))
              for p in document.get(MANIFEST_PARTNERS, [])]

    def manifest_for(written: Mapping[str, bytes], signing: Signing) -> bytes:
        updated = [manifest.entry_for(e.urn, e.dfe_number, e.name, e.file, written[e.file],
                                      e.members, e.children, rows_digest=e.rows_digest,
                                      updated_at=e.updated_at,
                                      lookup=(e.lookup_file, written[e.lookup_file])
                                      if e.lookup_file else None) for e in entries]
        return manifest.build(
            run_id=run_id, as_at=date.fromisoformat(document["as_at"]),
            generated_at=datetime.now(UTC), source_rows=document["source"],
            signing_key_id=signing.key.key_id, entries=updated,
            amends={"run_id": current, "reason": f"password rotated for school {urn}"},
            extra={k: document[k] for k in CARRIED if k in document})

    try:
        return write_run(store, run_id, files, manifest_for, Signing.from_keystore(keystore), keep)
    except BaseException:
        # the latest file still needs the old password
        keystore.restore_password(urn, old_password, replacing=new_password)
        raise


def _open(data: bytes, password: str, key: SchoolKey | None) -> bytes:
    """The latest file's workbook: with the cached key when the file was made under it (no
    hashing), else with the password (a file from before the cache)."""
    if key is not None:
        try:
            return decrypt_with_key(data, key)
        except ValueError:
            log.debug("the latest file predates the school's cached key; using the password")
    return decrypt(data, password)


def rotate_signing(store: DropStore, keystore: Keystore) -> str:
    """A new signing key, announced before anything is signed with it: the key it replaces
    signs an endorsement of it into the drop (``databook.drop.endorsed``), so a portal that
    trusted the old key trusts the new one at once. Every earlier public key stays in the
    drop for old manifests."""
    with keystore.locked():
        old = keystore.signing_key()
        key = keystore.rotate_signing_key()
        store.make_dir("")
        store.make_dir(KEYS_DIR)
        store.write(f"{KEYS_DIR}/{key.key_id}{ENDORSEMENT_SUFFIX}",
                    endorsement(key.key_id, key.public_pem, old.key_id,
                                old.sign(endorsement_statement(key.key_id, key.public_pem))))
        manifest.publish_keys(store, keystore.public_keys(), key.key_id)
    return key.key_id


def rotate_partner(store: DropStore, keystore: Keystore, partner_id: str,
                   keep: int = DEFAULT_KEEP) -> str:
    """Give one partner a new password and re-publish the latest run with its file under it,
    as a signed amendment (every other file copied unchanged)."""
    with keystore.locked():
        return _rotate_partner(store, keystore, partner_id, keep)


def _rotate_partner(store: DropStore, keystore: Keystore, partner_id: str, keep: int) -> str:
    current = latest(store)
    if current is None:
        raise PublishError(f"the drop {store.describe()} has no latest run to re-encrypt")
    document = manifest.verify(store, current, keystore.public_keys())
    partners = [dict(p) for p in document.get(MANIFEST_PARTNERS, [])]
    target = next((p for p in partners if p["partner_id"] == partner_id), None)
    if target is None:
        raise PublishError(f"partner {partner_id} is not in run {current}")
    old_password = keystore.partner_password(partner_id)
    plain = _open(store.read(f"{current}/{target['file']}"), old_password,
                  keystore.current_partner_key(partner_id))
    new_password = keystore.rotate_partner_password(partner_id)
    new_key = keystore.partner_keys([partner_id])[partner_id]
    entries = [manifest.Entry(**{**s, "members": tuple(s["members"])})
               for s in document["schools"]]
    files = [(e.file, store.read(f"{current}/{e.file}")) for e in entries]
    files += [(str(p["file"]), encrypt(plain, new_key) if p is target
               else store.read(f"{current}/{p['file']}")) for p in partners]
    run_id = new_run_id()

    def manifest_for(written: Mapping[str, bytes], signing: Signing) -> bytes:
        updated = [manifest.entry_for(e.urn, e.dfe_number, e.name, e.file, written[e.file],
                                      e.members, e.children, rows_digest=e.rows_digest,
                                      updated_at=e.updated_at) for e in entries]
        rekeyed = [{**p, "bytes": len(written[p["file"]]),
                    "sha256": hashlib.sha256(written[p["file"]]).hexdigest()} for p in partners]
        return manifest.build(
            run_id=run_id, as_at=date.fromisoformat(document["as_at"]),
            generated_at=datetime.now(UTC), source_rows=document["source"],
            signing_key_id=signing.key.key_id, entries=updated,
            amends={"run_id": current, "reason": f"password rotated for partner {partner_id}"},
            extra={**{k: document[k] for k in CARRIED if k in document},
                   MANIFEST_PARTNERS: rekeyed})

    try:
        return write_run(store, run_id, files, manifest_for, Signing.from_keystore(keystore), keep)
    except BaseException:
        keystore.restore_partner_password(partner_id, old_password, replacing=new_password)
        raise
