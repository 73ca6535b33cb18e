"""Durable, owner-only file writes: a file appears whole under its name or not at all."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents, each new folder owner-only (``DIR_MODE``).

    A folder that already exists keeps its mode: an operator may have frozen a drop read-only
    or given a collection group read access on purpose, and a run must not undo that. (If the
    mode stops the run writing, the write fails with a clear error instead.)
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs, so its mode is theirs too
        os.chmod(folder, DIR_MODE)  # exactly 0700, whatever the umask
    if not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder")
    return path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync it and rename it into place.

    The temporary name is unique to this write, so two processes writing the same file (a
    nightly run and ``keys rotate``, say) never write through one temporary file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def private_dir(path: Path) -> Path:
    """Make (or tighten) a folder only its owner can read: the portal's state folder holds its
    keys, so unlike ``make_private_dir`` an existing folder's mode is tightened too. Missing
    parents are made owner-only as well (``mkdir(parents=True)`` would leave them 0755)."""
    make_private_dir(path)
    os.chmod(path, 0o700)
    return path
