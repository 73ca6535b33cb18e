"""A backup archive: one ``.tar.gz`` per host, its members listed with their SHA-256 digests
in ``backup.json`` together with the host it came from and the council's identity.

Why a manifest of digests: a restore is the moment nobody can afford a silently damaged copy,
so every member is checked before anything on the host is touched; a member missing, extra or
changed is one line naming it. Why the council's identity (the portal ledger's public key,
the keystore's first signing key): a restore of another council's backup over this one would
mix two councils' keys and ledgers, so it is refused, in one line, before anything changes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from databook.fsio import write_file

FORMAT = 1
MANIFEST = "backup.json"
HOSTS = ("portal", "nightly")


class BackupError(Exception):
    """A backup or restore cannot go ahead; the message is one safe line."""


@dataclass
class Archive:
    host: str
    council: str  # the council's identity on that host (see the module's docstring)
    facts: dict[str, Any] = field(default_factory=dict)  # sizes and times a restore compares
    members: dict[str, bytes] = field(default_factory=dict)
    created_at: str = ""
    code_version: str = ""

    def manifest(self) -> bytes:
        return (json.dumps({
            "format": FORMAT, "host": self.host, "council": self.council,
            "created_at": self.created_at, "code_version": self.code_version,
            "facts": self.facts,
            "files": {name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                      for name, data in sorted(self.members.items())}},
            indent=1, sort_keys=True) + "\n").encode()


def code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("safeguarding-databook")
    except PackageNotFoundError:
        return "unknown"


def write(archive: Archive, out: Path) -> Path:
    """The archive at ``out`` (0600, written whole then renamed into place)."""
    archive.created_at = archive.created_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    archive.code_version = archive.code_version or code_version()
    out = out.resolve()
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for name, data in [(MANIFEST, archive.manifest()), *sorted(archive.members.items())]:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), 0o600, 0
                tar.addfile(info, io.BytesIO(data))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


def read(path: Path) -> Archive:
    """The archive, every member checked against ``backup.json``; ``BackupError`` naming the
    first problem otherwise."""
    damaged = f"the archive {path} is damaged or not a databook backup"
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for info in tar:
                if not info.isfile() or info.name.startswith("/") or ".." in info.name.split("/"):
                    raise BackupError(f"{damaged} (unexpected member {info.name!r})")
                handle = tar.extractfile(info)
                if handle is None:
                    raise BackupError(damaged)
                members[info.name] = handle.read()
    except FileNotFoundError:
        raise BackupError(f"there is no backup at {path}") from None
    except (tarfile.TarError, OSError, EOFError, ValueError):
        raise BackupError(damaged) from None
    try:
        doc = json.loads(members.pop(MANIFEST))
        files: dict[str, Any] = doc["files"]
        host, council = str(doc["host"]), str(doc["council"])
        if doc["format"] != FORMAT or host not in HOSTS:
            raise ValueError
    except (KeyError, ValueError, TypeError):
        raise BackupError(f"{damaged} (no readable {MANIFEST})") from None
    for name in sorted(set(files) | set(members)):
        data = members.get(name)
        if data is None or name not in files:
            raise BackupError(f"{damaged}: {name} is {'missing' if data is None else 'extra'}")
        if hashlib.sha256(data).hexdigest() != files[name].get("sha256"):
            raise BackupError(f"{damaged}: {name} does not match its SHA-256 digest")
    return Archive(host, council, dict(doc.get("facts") or {}), members,
                   str(doc.get("created_at", "")), str(doc.get("code_version", "")))


def same_council(archive: Archive, here: str | None, where: str) -> None:
    """Refuse a backup of another council (``here`` None: a fresh host, nothing to mix)."""
    if here is not None and here != archive.council:
        raise BackupError(f"this backup is of another council's {archive.host} host "
                          f"({archive.council}); {where} is {here}: refusing to restore it")


def files_under(folder: Path, prefix: str, skip: frozenset[str] = frozenset()) -> dict[str, bytes]:
    """Every regular file under ``folder`` as ``prefix/relative path``, except top-level
    entries named in ``skip``, lock files and temporary files (names starting with a dot)."""
    found: dict[str, bytes] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if rel.parts[0] in skip or any(p.startswith(".") for p in rel.parts) or \
                path.suffix == ".lock" or not path.is_file() or path.is_symlink():
            continue
        found[f"{prefix}/{rel.as_posix()}"] = path.read_bytes()
    return found


def put_files(members: dict[str, bytes], prefix: str, folder: Path) -> int:
    """Write back the members under ``prefix/`` into ``folder``: folders 0700, files 0600,
    each written whole then renamed into place. Returns how many."""
    count = 0
    for name, data in members.items():
        if not name.startswith(f"{prefix}/"):
            continue
        target = folder / name.removeprefix(f"{prefix}/")
        made = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
        for parent in reversed(made):
            parent.mkdir(mode=0o700)
            os.chmod(parent, 0o700)
        write_file(target, data)
        count += 1
    return count
