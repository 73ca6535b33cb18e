"""Where the drop lives, behind one small interface: the local filesystem (the default) or an
SFTP server. Paths are relative to the drop's root and use ``/``.

What every store promises: ``write`` makes a file appear whole or not at all (temporary name,
then rename) with owner-only permissions; ``rename`` of a folder is one atomic step on the same
filesystem; ``replace`` atomically swaps a small file (the ``latest`` pointer).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

from databook.fsio import DIR_MODE, fsync_dir, make_private_dir, write_file


class DropStore(Protocol):
    def describe(self) -> str: ...
    def make_dir(self, rel: str) -> None: ...
    def write(self, rel: str, data: bytes) -> None: ...
    def read(self, rel: str) -> bytes: ...
    def exists(self, rel: str) -> bool: ...
    def list_dir(self, rel: str = "") -> list[str]: ...
    def is_dir(self, rel: str) -> bool: ...
    def rename(self, src: str, dst: str) -> None: ...
    def remove_tree(self, rel: str, *, secure: bool = False) -> None: ...
    def close(self) -> None: ...


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, rel: str) -> Path:
        return self.root / rel if rel else self.root

    def describe(self) -> str:
        return str(self.root)

    def make_dir(self, rel: str) -> None:
        make_private_dir(self._path(rel))

    def write(self, rel: str, data: bytes) -> None:
        write_file(self._path(rel), data)

    def read(self, rel: str) -> bytes:
        return self._path(rel).read_bytes()

    def exists(self, rel: str) -> bool:
        return self._path(rel).exists()

    def list_dir(self, rel: str = "") -> list[str]:
        return sorted(p.name for p in self._path(rel).iterdir())

    def is_dir(self, rel: str) -> bool:
        return self._path(rel).is_dir()

    def rename(self, src: str, dst: str) -> None:
        if self._path(dst).exists():
            raise FileExistsError(dst)
        os.rename(self._path(src), self._path(dst))
        fsync_dir(self._path(dst).parent)

    def remove_tree(self, rel: str, *, secure: bool = False) -> None:
        path = self._path(rel)
        if secure and path.is_dir():
            for file in path.rglob("*"):
                if file.is_file():
                    _overwrite(file)
        shutil.rmtree(path, ignore_errors=True)

    def close(self) -> None:
        return None


def _overwrite(path: Path) -> None:
    """Zero a file's bytes in place before it is unlinked, so a deleted databook does not
    linger in free blocks (best effort: copy-on-write filesystems may keep old blocks)."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())


__all__ = ["DIR_MODE", "DropStore", "LocalStore"]
