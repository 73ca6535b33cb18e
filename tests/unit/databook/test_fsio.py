"""Folders the product makes are private; folders an operator made keep the mode they chose."""

from __future__ import annotations

import os
import resource
import stat
from pathlib import Path

import pytest

from databook.fsio import make_private_dir
from databook.store import MAX_OPEN, LocalStore
from publish.drop import Signing, publish_run, school_files
from publish.keystore import Keystore
from tests.support import DROP_SCHOOLS as SCHOOLS
from tests.support import SOURCE, rows, run_info


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_folders_and_their_missing_parents_are_owner_only_whatever_the_umask(
        tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        made = make_private_dir(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(old)
    assert made.is_dir()
    for folder in (tmp_path / "a", tmp_path / "a" / "b", made):
        assert mode(folder) == 0o700, folder


def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o750)
    make_private_dir(shared)
    make_private_dir(shared / "child")
    assert mode(shared) == 0o750
    assert mode(shared / "child") == 0o700


def test_a_run_leaves_an_existing_drops_mode_alone(tmp_path: Path) -> None:
    """A collection group's read access on the drop survives the nightly run."""
    drop = tmp_path / "drop"
    drop.mkdir()
    os.chmod(drop, 0o750)
    keystore = Keystore.open(tmp_path / "state")
    files = list(school_files(SCHOOLS, rows(100), keystore.ensure_passwords([100, 200])))
    run_id = publish_run(LocalStore(drop), run_info(), files, Signing.from_keystore(keystore),
                         SOURCE)
    assert mode(drop) == 0o750
    assert mode(drop / run_id) == 0o700


def test_a_file_where_the_folder_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "drop").write_bytes(b"")
    with pytest.raises(FileExistsError):
        make_private_dir(tmp_path / "drop")




def test_staged_files_are_owner_read_write_whatever_the_umask_and_land_whole(
        tmp_path: Path) -> None:
    """A run's staging folder takes its files under their own names; they are exactly 0600
    even when the umask would take the owner's write bit, and hold every byte written."""
    store = LocalStore(tmp_path / "drop")
    store.make_dir("stage")
    data = os.urandom(3 * 2**20)
    old = os.umask(0o277)
    try:
        with store.staged("stage") as put:
            put("a.xlsx", data)
            put("b.json", b"{}")
    finally:
        os.umask(old)
    assert (tmp_path / "drop" / "stage" / "a.xlsx").read_bytes() == data
    assert sorted(p.name for p in (tmp_path / "drop" / "stage").iterdir()) == ["a.xlsx",
                                                                             "b.json"]
    for name in ("a.xlsx", "b.json"):
        assert mode(tmp_path / "drop" / "stage" / name) == 0o600, name


def test_a_name_staged_twice_is_an_error_not_an_overwrite(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "drop")
    store.make_dir("stage")
    with pytest.raises(FileExistsError), store.staged("stage") as put:
        put("a.xlsx", b"first")
        put("a.xlsx", b"second")
    assert (tmp_path / "drop" / "stage" / "a.xlsx").read_bytes() == b"first"


def test_staging_thousands_of_files_keeps_few_open(tmp_path: Path) -> None:
    """Each file waits to be flushed on another thread, but never more than ``MAX_OPEN`` at a
    time: a 9,600-school night stages 19,200 files, and the process may open only 1,024."""
    store = LocalStore(tmp_path / "drop")
    store.make_dir("stage")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + MAX_OPEN + 16,
                                                hard))
    try:
        with store.staged("stage") as put:
            for i in range(3000):
                put(f"{i}.xlsx", b"x" * 4096)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert len(list((tmp_path / "drop" / "stage").iterdir())) == 3000
