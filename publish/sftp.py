"""An SFTP drop (``sftp://user@host[:port]/path``), for councils whose secure drop is a server.

The server's host key must already be known (``DATABOOK_SFTP_KNOWN_HOSTS``, or the system's
known hosts): an unknown key is refused, never accepted on first use. Renames use OpenSSH's
``posix-rename@openssh.com``, which is atomic on the server's filesystem.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paramiko

from databook.fsio import DIR_MODE, FILE_MODE
from databook.store import DropStore, LocalStore, Put
from publish.errors import PublishError


class SftpStore:
    def __init__(self, client: paramiko.SSHClient, sftp: paramiko.SFTPClient, root: str,
                 where: str) -> None:
        self._client, self._sftp, self.root, self._where = client, sftp, root, where

    @classmethod
    def connect(cls, url: str, *, key_file: str | None = None,
                known_hosts: str | None = None) -> SftpStore:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 22
        where = f"sftp://{parts.username + '@' if parts.username else ''}{host}:{port}"
        client = paramiko.SSHClient()
        try:
            if known_hosts:
                client.load_host_keys(known_hosts)
            else:
                client.load_system_host_keys()
        except OSError:
            raise PublishError(f"cannot read the known hosts file {known_hosts}") from None
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(host, port, username=parts.username, key_filename=key_file,
                           password=unquote(parts.password) if parts.password else None,
                           allow_agent=False, look_for_keys=key_file is None, timeout=20)
            sftp = client.open_sftp()
        except paramiko.SSHException as exc:
            client.close()
            if "not found in known_hosts" in str(exc):
                raise PublishError(f"the host key of {where} is not in the known hosts file; "
                                   "refusing to connect") from None
            raise PublishError(f"cannot open the SFTP drop {where}: {exc}") from None
        except OSError as exc:
            client.close()
            raise PublishError(f"cannot reach the SFTP drop {where}: {exc}") from None
        return cls(client, sftp, parts.path or ".", where)

    def _path(self, rel: str) -> str:
        return posixpath.join(self.root, rel) if rel else self.root

    def describe(self) -> str:
        return f"{self._where}{self.root}"

    def make_dir(self, rel: str) -> None:
        path, todo = self._path(rel), []
        while not self._exists(path):
            todo.append(path)
            path = posixpath.dirname(path)
        for folder in reversed(todo):
            self._sftp.mkdir(folder, DIR_MODE)
            self._sftp.chmod(folder, DIR_MODE)

    def write(self, rel: str, data: bytes) -> None:
        path = self._path(rel)
        tmp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.tmp")
        with self._sftp.open(tmp, "wb") as handle:
            handle.chmod(FILE_MODE)
            handle.set_pipelined(True)
            handle.write(data)
        self._sftp.posix_rename(tmp, path)

    @contextmanager
    def staged(self, rel: str) -> Iterator[Put]:
        """New files in the folder ``rel``: each written as ``write`` does (the server
        decides when they reach its disk; a name written twice is replaced, where the local
        store refuses it: no caller writes one twice)."""
        yield lambda name, data: self.write(f"{rel}/{name}", data)

    def read(self, rel: str) -> bytes:
        try:
            with self._sftp.open(self._path(rel), "rb") as handle:
                return handle.read()
        except OSError as exc:
            if getattr(exc, "errno", None) == 2 or isinstance(exc, FileNotFoundError):
                raise FileNotFoundError(rel) from None
            raise

    def _exists(self, path: str) -> bool:
        try:
            self._sftp.stat(path)
        except OSError:
            return False
        return True

    def exists(self, rel: str) -> bool:
        return self._exists(self._path(rel))

    def size(self, rel: str) -> int:
        try:
            return int(self._sftp.stat(self._path(rel)).st_size or 0)
        except OSError:
            raise FileNotFoundError(rel) from None

    def list_dir(self, rel: str = "") -> list[str]:
        return sorted(self._sftp.listdir(self._path(rel)))

    def is_dir(self, rel: str) -> bool:
        return stat.S_ISDIR(self._sftp.stat(self._path(rel)).st_mode or 0)

    def rename(self, src: str, dst: str) -> None:
        if self.exists(dst):
            raise FileExistsError(dst)
        self._sftp.posix_rename(self._path(src), self._path(dst))

    def remove_tree(self, rel: str, *, secure: bool = False) -> None:
        path = self._path(rel)
        if not self._exists(path):
            return
        for entry in self._sftp.listdir_attr(path):
            child = f"{rel}/{entry.filename}"
            if stat.S_ISDIR(entry.st_mode or 0):
                self.remove_tree(child, secure=secure)
                continue
            if secure:
                with self._sftp.open(self._path(child), "r+b") as handle:
                    handle.write(b"\0" * (entry.st_size or 0))
            self._sftp.remove(self._path(child))
        self._sftp.rmdir(path)

    def close(self) -> None:
        self._sftp.close()
        self._client.close()


def open_store(location: str | Path, *, key_file: str | None = None,
               known_hosts: str | None = None) -> DropStore:
    """A store for a local path or an ``sftp://user@host[:port]/path`` URL."""
    text = str(location)
    if text.startswith("sftp://"):
        return SftpStore.connect(text, key_file=key_file, known_hosts=known_hosts)
    return LocalStore(Path(text).expanduser().resolve())
