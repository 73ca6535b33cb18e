"""Passwords and the master key: strong, private at rest, and never silently replaced."""

from __future__ import annotations

import multiprocessing
import stat
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from publish.encrypt import derive
from publish.errors import KeystoreError
from publish.keystore import KEYSTORE_FILE, MASTER_KEY_FILE, Keystore
from publish.passwords import entropy_bits, new_password


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_passwords_have_at_least_80_bits_and_differ() -> None:
    assert entropy_bits() >= 80
    made = {new_password() for _ in range(200)}
    assert len(made) == 200
    assert all(len(p.split("-")) == 6 and p.split("-")[-1].isdigit() for p in made)


def test_each_school_keeps_its_password_across_openings(tmp_path: Path) -> None:
    first = Keystore.open(tmp_path).ensure_passwords([100, 200])
    again = Keystore.open(tmp_path).ensure_passwords([100, 200, 300])
    assert first[100] != first[200]
    assert {k: again[k] for k in (100, 200)} == first
    assert Keystore.open(tmp_path).password(300) == again[300]


def test_keystore_is_encrypted_and_owner_only(tmp_path: Path) -> None:
    passwords = Keystore.open(tmp_path).ensure_passwords([100])
    blob = (tmp_path / KEYSTORE_FILE).read_bytes()
    assert passwords[100].encode() not in blob
    assert mode(tmp_path / KEYSTORE_FILE) == 0o600
    assert mode(tmp_path / MASTER_KEY_FILE) == 0o600


def test_a_lost_master_key_is_an_error_never_a_fresh_start(tmp_path: Path) -> None:
    Keystore.open(tmp_path).ensure_passwords([100])
    (tmp_path / MASTER_KEY_FILE).unlink()
    with pytest.raises(KeystoreError, match="master key is missing"):
        Keystore.open(tmp_path)
    assert not (tmp_path / MASTER_KEY_FILE).exists()


def test_a_wrong_or_malformed_master_key_is_refused(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    Keystore.open(tmp_path, key).ensure_passwords([100])
    with pytest.raises(KeystoreError, match="does not open"):
        Keystore.open(tmp_path, Fernet.generate_key().decode())
    with pytest.raises(KeystoreError, match="not a valid key"):
        Keystore.open(tmp_path, "not-a-key")
    assert Keystore.open(tmp_path, key).password(100)


def test_unknown_school_has_no_password(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="no password for school 999"):
        Keystore.open(tmp_path).password(999)
    with pytest.raises(KeystoreError, match="no password for school 999"):
        Keystore.open(tmp_path).school_key(999)  # asking for a key never makes a password
    assert not (tmp_path / KEYSTORE_FILE).exists()


# -- many commands at once: every change is a locked read-modify-write ----------------------
WRITERS = 8
ROUNDS = 6


def _writer(home: str, index: int, start: Barrier, out: Queue) -> None:
    """One command of many: adds its own schools, rotates them and the signing key."""
    start.wait()
    keystore = Keystore.open(Path(home))
    own = [index * 1000 + n for n in range(ROUNDS)]
    seen: dict[int, str] = {}
    signing: list[str] = [keystore.signing_key().key_id]
    for n, urn in enumerate(own):
        seen[urn] = keystore.ensure_passwords([urn])[urn]
        if n % 2:
            seen[urn] = keystore.rotate_password(urn)
        if n % 3 == 0:
            signing.append(keystore.rotate_signing_key().key_id)
    out.put((seen, signing, keystore.pseudonymiser()(1)))


def _run_writers(home: Path) -> list[tuple[dict[int, str], list[str], str]]:
    ctx = multiprocessing.get_context("forkserver")
    start, out = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(home), i + 1, start, out))
             for i in range(WRITERS)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    return results


def test_many_writer_processes_at_once_lose_nothing(tmp_path: Path) -> None:
    home = tmp_path / "state"  # not even there yet: the processes race to make the master key
    results = _run_writers(home)
    final = Keystore.open(home)
    for seen, _, _ in results:
        for urn, password in seen.items():
            assert final.password(urn) == password  # no school's password lost or reverted
    public = final.public_keys()
    every_key = {k for _, signing, _ in results for k in signing}
    assert every_key <= set(public)  # every key any command signed with is kept
    assert len(public) == 1 + WRITERS * len(range(0, ROUNDS, 3))  # one made on first use
    assert final.signing_key().key_id == list(public)[-1]
    assert len({pseudonym for _, _, pseudonym in results}) == 1  # one pseudonym key, agreed
    assert sorted(p.name for p in home.iterdir()) == [KEYSTORE_FILE, "keystore.lock",
                                                      MASTER_KEY_FILE]  # no temp file left


def _first_signer(home: str, start: Barrier, out: Queue) -> None:
    start.wait()
    out.put(Keystore.open(Path(home)).signing_key().key_id)


def test_commands_that_make_the_first_signing_key_at_once_all_sign_with_the_kept_one(
        tmp_path: Path) -> None:
    Keystore.open(tmp_path).ensure_passwords([100])
    ctx = multiprocessing.get_context("forkserver")
    start, out = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_first_signer, args=(str(tmp_path), start, out))
             for _ in range(WRITERS)]
    for proc in procs:
        proc.start()
    used = {out.get(timeout=60) for _ in procs}
    for proc in procs:
        proc.join(timeout=60)
    assert used == {Keystore.open(tmp_path).signing_key().key_id}
    assert len(Keystore.open(tmp_path).public_keys()) == 1


def test_a_change_rereads_the_keystore_so_an_older_handle_loses_nothing(tmp_path: Path) -> None:
    early = Keystore.open(tmp_path)
    early.ensure_passwords([100])
    late = Keystore.open(tmp_path)
    rotated = late.rotate_password(100)
    early.ensure_passwords([200])  # an old in-memory copy must not write back 100's old one
    assert Keystore.open(tmp_path).password(100) == rotated


def test_cached_keys_are_made_once_per_password_and_replaced_on_rotation(
        tmp_path: Path) -> None:
    keystore = Keystore.open(tmp_path)
    first = keystore.ensure_keys([100, 200])
    assert first[100].salt != first[200].salt and len(first[100].salt) == 16
    assert Keystore.open(tmp_path).ensure_keys([100]) == {100: first[100]}  # cached, not new
    assert derive(keystore.password(100), first[100].salt) == first[100]
    keystore.rotate_password(100)
    again = Keystore.open(tmp_path).ensure_keys([100, 200])
    assert again[200] == first[200]
    assert again[100].salt != first[100].salt
    assert again[100] == derive(keystore.password(100), again[100].salt)
    blob = (tmp_path / KEYSTORE_FILE).read_bytes()
    assert again[100].to_json()["key_encryption_key"].encode() not in blob  # under the master key


def test_a_keystore_from_before_the_key_cache_still_works(tmp_path: Path) -> None:
    keystore = Keystore.open(tmp_path)
    password = keystore.ensure_passwords([100])[100]
    assert keystore.current_key(100) is None  # as an older keystore holds it: passwords only
    key = Keystore.open(tmp_path).school_key(100)
    assert key == derive(password, key.salt)
    assert Keystore.open(tmp_path).current_key(100) == key  # derived once, then saved
