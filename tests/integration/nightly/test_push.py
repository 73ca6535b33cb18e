"""The drop's journey between two hosts: the nightly host's own drop pushed over SFTP (a real
OpenSSH sshd on 127.0.0.1) into the portal host's drop, which the portal reads as a folder.
Only whole, signed runs become visible there; a rotated signing key arrives endorsed by the
old one, so the portal serves the new runs with no manual step."""

from __future__ import annotations

import shutil
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from databook.drop import (
    KEYS_DIR,
    MANIFEST,
    SIGNATURE,
    endorsement,
    endorsement_statement,
    latest,
    runs,
)
from databook.store import LocalStore
from portal.served import Published, Unavailable
from publish import manifest
from publish.drop import Signing, publish_run, school_files, write_run
from publish.errors import PublishError
from publish.keystore import Keystore, SigningKey
from publish.push import push
from publish.rotate import rotate_signing
from publish.sftp import SftpStore, open_store
from tests.support import SOURCE, Server, rows, run_info, sshd

pytestmark = pytest.mark.sftp


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sshd(tmp_path_factory.mktemp("sshd")) as running:
        yield running


@pytest.fixture
def portal_drop(server: Server) -> Iterator[Path]:
    """The portal host's drop, empty for each test."""
    shutil.rmtree(server.folder, ignore_errors=True)
    yield server.folder
    shutil.rmtree(server.folder, ignore_errors=True)


def _connect(server: Server) -> SftpStore:
    store = open_store(server.url, key_file=server.key, known_hosts=server.known_hosts)
    assert isinstance(store, SftpStore)
    return store


def _publish(store: LocalStore, keystore: Keystore, day: int = 21) -> str:
    schools = pd.DataFrame({"urn": [100, 200], "dfe_number": "830/1", "name": "School"})
    files = list(school_files(schools, rows(100, 100, 200),
                              keystore.ensure_passwords([100, 200])))
    return publish_run(store, run_info(day), files, Signing.from_keystore(keystore), SOURCE)


def _push(server: Server, local: LocalStore, keystore: Keystore) -> list[str]:
    remote = _connect(server)
    try:
        return push(local, remote, keystore.public_keys(), keep=14).runs
    finally:
        remote.close()


def _portal(folder: Path, trusted: dict[str, str]) -> Published:
    """The portal's reader of its own drop, trusting only ``trusted`` (its trust-key keys)."""
    return Published(lambda: LocalStore(folder), lambda: trusted)


def test_runs_pushed_over_sftp_arrive_whole_private_and_served(
        server: Server, portal_drop: Path, tmp_path: Path) -> None:
    keystore = Keystore.open(tmp_path / "nightly")
    local = LocalStore(tmp_path / "nightly" / "drop")
    first = _publish(local, keystore)
    trusted = dict(keystore.public_keys())  # what `portal trust-key` installed, once
    assert _push(server, local, keystore) == [first]
    assert _push(server, local, keystore) == []  # nothing new: nothing sent
    second = _publish(local, keystore, 22)
    assert _push(server, local, keystore) == [second]
    there = LocalStore(portal_drop)
    assert runs(there) == [first, second] and latest(there) == second
    manifest.verify(there, second, trusted)
    assert stat.S_IMODE(portal_drop.stat().st_mode) == 0o700
    for path in (portal_drop / second).iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in portal_drop.iterdir() if p.name.startswith(".")]
    served = _portal(portal_drop, trusted)
    entry = served.current(100)
    assert entry.run_id == second
    assert served.read(entry) == local.read(f"{second}/100.xlsx")


def test_a_push_cut_off_shows_nothing_and_the_next_push_completes(
        server: Server, portal_drop: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    keystore = Keystore.open(tmp_path / "nightly")
    local = LocalStore(tmp_path / "nightly" / "drop")
    first = _publish(local, keystore)
    _push(server, local, keystore)
    second = _publish(local, keystore, 22)
    remote = _connect(server)
    real_write = remote.write

    def cut_off(rel: str, data: bytes) -> None:
        if rel.endswith(SIGNATURE):  # every file and the manifest are there: the link drops
            raise ConnectionResetError(104, "Connection reset by peer")
        real_write(rel, data)

    monkeypatch.setattr(remote, "write", cut_off)
    try:
        with pytest.raises(PublishError, match=r"pushing to the portal host .* failed"):
            push(local, remote, keystore.public_keys(), keep=14)
    finally:
        remote.close()
    there = LocalStore(portal_drop)
    assert runs(there) == [first] and latest(there) == first  # the portal still serves first
    assert not [p for p in portal_drop.iterdir() if p.name.startswith(".staging")]
    assert _portal(portal_drop, keystore.public_keys()).current(100).run_id == first
    assert _push(server, local, keystore) == [second]
    assert latest(there) == second


def test_a_half_copied_run_is_never_served(server: Server, portal_drop: Path,
                                           tmp_path: Path) -> None:
    """A run copied by hand (or by another tool) that has not fully arrived: the portal
    serves no file of it, for any school, and says so in one line."""
    keystore = Keystore.open(tmp_path / "nightly")
    local = LocalStore(tmp_path / "nightly" / "drop")
    run_id = _publish(local, keystore)
    portal_drop.mkdir(mode=0o700)
    shutil.copytree(tmp_path / "nightly" / "drop" / run_id, portal_drop / run_id)
    (portal_drop / run_id / "200.xlsx").unlink()
    data = (portal_drop / run_id / "100.xlsx").read_bytes()
    (portal_drop / run_id / "100.xlsx").write_bytes(data[: len(data) // 2])
    (portal_drop / "latest").write_text(f"{run_id}\n")
    served = _portal(portal_drop, keystore.public_keys())
    for urn in (100, 200):
        with pytest.raises(Unavailable) as caught:
            served.current(urn)
        assert caught.value.what == "incomplete"
        assert "has not fully arrived" in str(caught.value) and "\n" not in str(caught.value)
    # The next push replaces the broken copy with the whole, signed run.
    (portal_drop / run_id / SIGNATURE).unlink()
    assert _push(server, local, keystore) == [run_id]
    assert served.read(served.current(100)) == local.read(f"{run_id}/100.xlsx")


def test_a_rotated_signing_key_is_trusted_through_the_old_keys_endorsement(
        server: Server, portal_drop: Path, tmp_path: Path) -> None:
    keystore = Keystore.open(tmp_path / "nightly")
    local = LocalStore(tmp_path / "nightly" / "drop")
    _publish(local, keystore)
    trusted = dict(keystore.public_keys())  # the portal trusted the first key, by hand, once
    served = _portal(portal_drop, trusted)
    _push(server, local, keystore)
    new_id = rotate_signing(local, keystore)
    rotated = _publish(local, keystore, 22)
    assert manifest.parse(local.read(f"{rotated}/{MANIFEST}"))["signing_key_id"] == new_id
    assert new_id not in trusted
    _push(server, local, keystore)
    assert (portal_drop / KEYS_DIR / f"{new_id}.endorsement.json").is_file()
    entry = served.current(100)  # no trust-key step: the endorsement announced the new key
    assert entry.run_id == rotated
    assert served.read(entry) == local.read(f"{rotated}/100.xlsx")


def test_an_unendorsed_or_forged_key_is_refused_in_one_line(portal_drop: Path,
                                                             tmp_path: Path) -> None:
    keystore = Keystore.open(tmp_path / "nightly")
    trusted = dict(keystore.public_keys())
    portal_drop.mkdir(mode=0o700)
    store = LocalStore(portal_drop)
    intruder = SigningKey(Ed25519PrivateKey.generate())
    run_id = run_info().run_id
    signing = Signing(intruder, keystore.pseudonymiser(), {intruder.key_id: intruder.public_pem})

    def manifest_for(written: Mapping[str, bytes], signing: Signing) -> bytes:
        return manifest.build(run_id=run_id, as_at=run_info().as_at,
                              generated_at=run_info().extracted_at, source_rows={},
                              signing_key_id=signing.key.key_id, entries=[
                                  manifest.entry_for(100, "1", "School", "100.xlsx",
                                                     written["100.xlsx"], [], 1)])

    write_run(store, run_id, [("100.xlsx", b"x" * 100)], manifest_for, signing)
    served = _portal(portal_drop, trusted)
    with pytest.raises(Unavailable) as caught:
        served.current(100)
    line = str(caught.value)
    assert caught.value.what == "tampered" and "\n" not in line
    assert f"signed by key {intruder.key_id}" in line and "no trusted key endorsed it" in line
    # An "endorsement" the intruder signed itself, claiming to be the trusted key's: refused.
    old_id = next(iter(trusted))
    (portal_drop / KEYS_DIR / f"{intruder.key_id}.endorsement.json").write_bytes(endorsement(
        intruder.key_id, intruder.public_pem, old_id,
        intruder.sign(endorsement_statement(intruder.key_id, intruder.public_pem))))
    with pytest.raises(Unavailable, match="no trusted key endorsed it"):
        _portal(portal_drop, trusted).current(100)
