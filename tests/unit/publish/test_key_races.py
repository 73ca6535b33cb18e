"""Key changes that land while another command publishes: the run that ends up ``latest``
always opens with the passwords the keystore holds, and always verifies."""

from __future__ import annotations

import multiprocessing
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pandas as pd
import pytest
from msoffcrypto.exceptions import InvalidKeyError

from databook.drop import latest
from databook.store import LocalStore
from publish import manifest
from publish.drop import Signing, publish_run, school_files
from publish.encrypt import decrypt, decrypt_with_key
from publish.keystore import Keystore
from publish.rotate import rotate_school, rotate_signing
from tests.support import SOURCE, rows, run_info

URNS = [100, 200, 300, 400, 500, 600]
SCHOOLS = pd.DataFrame({"urn": URNS, "dfe_number": "830/1", "name": "School"})


def _publish(drop: Path, keystore: Keystore) -> str:
    files = list(school_files(SCHOOLS, rows(*URNS), keystore.ensure_keys(URNS)))
    return publish_run(LocalStore(drop), run_info(), files, Signing.from_keystore(keystore),
                       SOURCE)


def _latest_opens_with_current_passwords(drop: Path, state: Path) -> None:
    store, keystore = LocalStore(drop), Keystore.open(state)
    run_id = latest(store)
    assert run_id is not None
    manifest.verify(store, run_id, keystore.public_keys())
    for urn in URNS:
        data = (drop / run_id / f"{urn}.xlsx").read_bytes()
        decrypt_with_key(data, keystore.school_key(urn))  # made under the current key
    decrypt(data, keystore.password(URNS[-1]))  # and the password itself opens it


def test_a_password_rotated_while_a_run_renders_is_the_one_its_file_opens_with(
        tmp_path: Path) -> None:
    drop, state = tmp_path / "drop", tmp_path / "state"
    keystore = Keystore.open(state)
    _publish(drop, keystore)
    # The nightly run reads its keys and renders; meanwhile an officer rotates school 100.
    files = list(school_files(SCHOOLS, rows(*URNS), keystore.ensure_keys(URNS)))
    signing = Signing.from_keystore(keystore)
    old = keystore.password(100)
    rotate_school(LocalStore(drop), Keystore.open(state), 100)
    run_id = publish_run(LocalStore(drop), run_info(), files, signing, SOURCE)
    assert latest(LocalStore(drop)) == run_id
    _latest_opens_with_current_passwords(drop, state)
    with pytest.raises(InvalidKeyError):
        decrypt((drop / run_id / "100.xlsx").read_bytes(), old)


def test_a_signing_key_rotated_while_a_run_renders_signs_that_run(tmp_path: Path) -> None:
    drop, state = tmp_path / "drop", tmp_path / "state"
    keystore = Keystore.open(state)
    _publish(drop, keystore)
    files = list(school_files(SCHOOLS, rows(*URNS), keystore.ensure_keys(URNS)))
    signing = Signing.from_keystore(keystore)
    new_key = rotate_signing(LocalStore(drop), Keystore.open(state))
    run_id = publish_run(LocalStore(drop), run_info(), files, signing, SOURCE)
    document = manifest.verify(LocalStore(drop), run_id, Keystore.open(state).public_keys())
    assert document["signing_key_id"] == new_key != signing.key.key_id
    assert manifest.key_id_of((drop / "signing-key.pub.pem").read_text()) == new_key


def _rotator(drop: str, state: str, urn: int, start: Barrier, out: Queue) -> None:
    start.wait()
    if urn:
        rotate_school(LocalStore(Path(drop)), Keystore.open(Path(state)), urn)
    else:
        _publish(Path(drop), Keystore.open(Path(state)))
    out.put(urn)


def test_rotations_and_a_publish_at_once_leave_every_school_able_to_open_latest(
        tmp_path: Path) -> None:
    drop, state = tmp_path / "drop", tmp_path / "state"
    _publish(drop, Keystore.open(state))
    ctx = multiprocessing.get_context("forkserver")
    jobs = [*URNS[:4], 0, URNS[4]]  # four rotations, a nightly publish, one more rotation
    start, out = ctx.Barrier(len(jobs)), ctx.Queue()
    procs = [ctx.Process(target=_rotator, args=(str(drop), str(state), urn, start, out))
             for urn in jobs]
    for proc in procs:
        proc.start()
    assert sorted(out.get(timeout=120) for _ in procs) == sorted(jobs)
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    _latest_opens_with_current_passwords(drop, state)
