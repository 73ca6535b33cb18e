"""The secure drop: whole runs or nothing, signed manifests, tamper evidence, retention, keys."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from msoffcrypto.exceptions import InvalidKeyError

from databook.drop import LATEST, endorsed, latest, runs
from databook.store import LocalStore
from publish import manifest
from publish.drop import SchoolFile, Signing, prune, publish_run, school_files
from publish.errors import PublishError
from publish.keystore import Keystore
from publish.manifest import ManifestError
from publish.rotate import rotate_school, rotate_signing
from publish.workbook import School
from tests.support import DROP_SCHOOLS as SCHOOLS
from tests.support import SOURCE, open_encrypted, rows, run_info


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    return Keystore.open(tmp_path / "state")


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "drop")


def publish(store: LocalStore, keystore: Keystore, *urns: int, keep: int = 14) -> str:
    passwords = keystore.ensure_passwords([100, 200])
    files = list(school_files(SCHOOLS, rows(*urns), passwords))
    return publish_run(store, run_info(), files, Signing.from_keystore(keystore), SOURCE,
                       keep=keep)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_open_school_gets_a_file_and_the_run_is_signed(store: LocalStore,
                                                             keystore: Keystore) -> None:
    run_id = publish(store, keystore, 100, 100)
    folder = store.root / run_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "100.xlsx", "200.xlsx", "manifest.json", "manifest.json.sig"]
    assert latest(store) == run_id
    document = manifest.verify(store, run_id, keystore.public_keys())
    assert [(s["urn"], s["children"], s["file"]) for s in document["schools"]] == [
        (100, 2, "100.xlsx"), (200, 0, "200.xlsx")]
    assert document["source"] == SOURCE and document["as_at"] == "2026-11-21"
    assert document["generated_at"].endswith("Z") and document["format"] == 1


def test_members_are_keyed_pseudonyms_never_ids(store: LocalStore, keystore: Keystore,
                                               tmp_path: Path) -> None:
    run_id = publish(store, keystore, 100, 100)
    data = (store.root / run_id / "manifest.json").read_bytes()
    members = json.loads(data)["schools"][0]["members"]
    key = bytes.fromhex(json.loads(keystore._fernet.decrypt(
        keystore.path.read_bytes()))["pseudonym_key"])
    assert members == sorted(hmac.new(key, str(p).encode(), hashlib.sha256).hexdigest()
                             for p in (1000, 1001))
    assert b"1000" not in data and b"1001" not in data
    assert manifest.canonical(json.loads(data)) == data  # stable, reproducible bytes


def test_openssl_verifies_the_signature_and_refuses_a_changed_manifest(
        store: LocalStore, keystore: Keystore) -> None:
    run_id = publish(store, keystore, 100)
    folder = store.root / run_id

    def openssl() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey",
             str(store.root / "signing-key.pub.pem"), "-rawin", "-in",
             str(folder / "manifest.json"), "-sigfile", str(folder / "manifest.json.sig")],
            capture_output=True, text=True, check=False)

    good = openssl()
    assert good.returncode == 0 and "Signature Verified Successfully" in good.stdout
    _flip(folder / "manifest.json", 40)
    assert openssl().returncode != 0


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, names", [
    (lambda f: _flip(f / "100.xlsx", 2000), "100.xlsx does not match"),
    (lambda f: _flip(f / "manifest.json", 60), "manifest.json"),
    (lambda f: _flip(f / "manifest.json.sig", 5), "signature does not match"),
    (lambda f: (f / "200.xlsx").unlink(), "200.xlsx is missing"),
    (lambda f: (f / "300.xlsx").write_bytes(b"extra"), "300.xlsx is not in the manifest"),
])
def test_any_change_to_a_run_is_caught_and_named(store: LocalStore, keystore: Keystore,
                                                 damage, names: str) -> None:
    run_id = publish(store, keystore, 100)
    damage(store.root / run_id)
    with pytest.raises(ManifestError, match=names):
        manifest.verify(store, run_id, keystore.public_keys())


def test_drop_folders_and_files_are_owner_only(store: LocalStore, keystore: Keystore) -> None:
    run_id = publish(store, keystore, 100)
    assert mode(store.root) == 0o700 and mode(store.root / run_id) == 0o700
    for path in [*(store.root / run_id).iterdir(), store.root / LATEST,
                 store.root / "signing-key.pub.pem"]:
        assert mode(path) == 0o600, path


def test_retention_keeps_the_newest_runs_and_never_the_one_latest_names(
        store: LocalStore, keystore: Keystore) -> None:
    made = [publish(store, keystore, 100, keep=2) for _ in range(4)]
    assert runs(store) == made[-2:]
    (store.root / LATEST).write_text(made[-2] + "\n")  # an officer rolled back one night
    assert prune(store, keep=1) == []
    assert runs(store) == made[-2:]
    (store.root / LATEST).write_text(made[-1] + "\n")
    assert prune(store, keep=1) == [made[-2]]
    assert runs(store) == [made[-1]]


def test_retention_overwrites_deleted_files_not_just_their_names(
        store: LocalStore, keystore: Keystore, tmp_path: Path) -> None:
    old = publish(store, keystore, 100)
    witness = tmp_path / "witness"
    os.link(store.root / old / "100.xlsx", witness)  # a second name for the same bytes
    size = witness.stat().st_size
    publish(store, keystore, 100, keep=1)
    assert not (store.root / old).exists()
    assert witness.read_bytes() == b"\0" * size


def test_a_failure_part_way_leaves_the_last_run_and_latest_intact(
        store: LocalStore, keystore: Keystore) -> None:
    good = publish(store, keystore, 100)
    before = {p.name: p.read_bytes() for p in (store.root / good).iterdir()}
    broken = SchoolFile(School(300, "x", "x"), (("too", "short"),), "pw")
    files = [*school_files(SCHOOLS, rows(100), keystore.ensure_passwords([100, 200])), broken]
    with pytest.raises(ValueError, match="schema's columns"):
        publish_run(store, run_info(22), files, Signing.from_keystore(keystore), SOURCE)
    assert runs(store) == [good] and latest(store) == good
    assert not [p for p in store.root.iterdir() if p.name.startswith(".staging")]
    assert {p.name: p.read_bytes() for p in (store.root / good).iterdir()} == before


def test_rows_for_a_school_that_is_not_open_are_refused() -> None:
    with pytest.raises(PublishError, match="not open schools"):
        list(school_files(SCHOOLS, rows(100, 300), {100: "p", 200: "p"}))


def test_rotating_a_school_password_republishes_under_the_new_one(
        store: LocalStore, keystore: Keystore) -> None:
    first = publish(store, keystore, 100)
    old = keystore.password(100)
    second = rotate_school(store, keystore, 100)
    new = keystore.password(100)
    assert new != old and latest(store) == second
    data = (store.root / second / "100.xlsx").read_bytes()
    open_encrypted(data, new)
    with pytest.raises(InvalidKeyError):
        open_encrypted(data, old)
    document = manifest.verify(store, second, keystore.public_keys())
    assert document["amends"] == {"run_id": first, "reason": "password rotated for school 100"}
    assert ((store.root / second / "200.xlsx").read_bytes()
            == (store.root / first / "200.xlsx").read_bytes())


def test_rotating_the_signing_key_keeps_old_manifests_verifiable(
        store: LocalStore, keystore: Keystore, tmp_path: Path) -> None:
    old_run = publish(store, keystore, 100)
    old_key = keystore.signing_key().key_id
    new_key = rotate_signing(store, keystore)
    new_run = publish(store, keystore, 100)
    assert new_key != old_key
    assert sorted(p.name for p in (store.root / "signing-keys").iterdir()) == sorted(
        [f"{old_key}.pem", f"{new_key}.pem", f"{new_key}.endorsement.json"])
    # The old key endorsed the new one, so a reader that trusted only the old key trusts it.
    only_old = {old_key: keystore.public_keys()[old_key]}
    assert set(endorsed(store, only_old)) == {old_key, new_key}
    assert json.loads((store.root / new_run / "manifest.json").read_text())[
        "signing_key_id"] == new_key
    reopened = Keystore.open(tmp_path / "state")
    for run_id in (old_run, new_run):
        manifest.verify(store, run_id, reopened.public_keys())
    assert manifest.key_id_of((store.root / "signing-key.pub.pem").read_text()) == new_key


def test_a_stale_staging_folder_is_cleaned_by_the_next_run(store: LocalStore,
                                                          keystore: Keystore) -> None:
    (store.root / ".staging-x").mkdir(parents=True)
    (store.root / ".staging-x" / "100.xlsx").write_bytes(b"half")
    run_id = publish(store, keystore, 100)
    assert sorted(p.name for p in store.root.iterdir()) == sorted(
        [run_id, "latest", "signing-key.pub.pem", "signing-keys"])


def test_copying_a_run_elsewhere_keeps_it_verifiable(store: LocalStore, keystore: Keystore,
                                                     tmp_path: Path) -> None:
    run_id = publish(store, keystore, 100)
    shutil.copytree(store.root / run_id, tmp_path / "archive" / run_id)
    manifest.verify(LocalStore(tmp_path / "archive"), run_id, keystore.public_keys())
