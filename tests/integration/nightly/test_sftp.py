"""The drop on an SFTP server: a real OpenSSH sshd on 127.0.0.1, started and stopped here."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from databook.drop import latest, runs
from databook.store import LocalStore
from publish import manifest
from publish.drop import Signing, publish_run, school_files
from publish.errors import PublishError
from publish.keystore import Keystore
from publish.rotate import rotate_school
from publish.sftp import SftpStore, open_store
from tests.support import SOURCE, Server, open_encrypted, rows, run_info, sshd

pytestmark = pytest.mark.sftp


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sshd(tmp_path_factory.mktemp("sshd")) as running:
        yield running


def _connect(server: Server) -> SftpStore:
    store = open_store(server.url, key_file=server.key, known_hosts=server.known_hosts)
    assert isinstance(store, SftpStore)
    return store


def test_a_run_published_over_sftp_is_whole_signed_and_private(server: Server,
                                                               tmp_path: Path) -> None:
    keystore = Keystore.open(tmp_path / "state")
    schools = pd.DataFrame({"urn": [100, 200], "dfe_number": "830/1", "name": "School"})
    files = list(school_files(schools, rows(100, 100, 200), keystore.ensure_passwords([100, 200])))
    store = _connect(server)
    try:
        run_id = publish_run(store, run_info(), files, Signing.from_keystore(keystore), SOURCE)
        assert latest(store) == run_id and runs(store) == [run_id]
        manifest.verify(store, run_id, keystore.public_keys())
        rotated = rotate_school(store, keystore, 100)
        manifest.verify(store, rotated, keystore.public_keys())
    finally:
        store.close()
    # The same bytes, read straight off the server's disk: owner-only, and they verify too.
    local = LocalStore(server.folder)
    manifest.verify(local, rotated, keystore.public_keys())
    assert stat.S_IMODE(server.folder.stat().st_mode) == 0o700
    for path in (server.folder / rotated).iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    open_encrypted((server.folder / rotated / "100.xlsx").read_bytes(), keystore.password(100))
    assert not [p for p in server.folder.iterdir() if p.name.startswith((".staging", "."))]


def test_an_unknown_host_key_is_refused(server: Server, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(PublishError, match="not in the known hosts file"):
        open_store(server.url, key_file=server.key, known_hosts=str(empty))


def test_an_unreachable_server_is_one_clear_line(server: Server) -> None:
    with pytest.raises(PublishError, match=r"cannot reach the SFTP drop sftp://.*127\.0\.0\.1:1"):
        open_store("sftp://nobody@127.0.0.1:1/drop", key_file=server.key,
                   known_hosts=server.known_hosts)
