"""The record of every ``databook keys reveal``: a school's or a partner's password shown to
someone on the nightly host is as much an access as a download, and an auditor asks who saw it.

``$DATABOOK_HOME/audit/reveals.jsonl`` gains one line per reveal, written (and flushed to
disk) before the password is printed: when, the operating-system user, the host, and which
school (URN) or partner. Never the password. The file is append-only and private (0600);
``databook audit reveals`` lists it, and each reveal also goes to the alert channels as a
notice, so a reveal nobody expected is seen the same day.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from databook.fsio import FILE_MODE, fsync_dir, make_private_dir

AUDIT_DIR = "audit"
REVEALS_FILE = "reveals.jsonl"


def reveals_path(home: Path) -> Path:
    return home / AUDIT_DIR / REVEALS_FILE


def os_user() -> str:
    """Who is at the keyboard, as the operating system knows them (sudo's caller if any)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{os.environ['SUDO_USER']} (via sudo as {user})" if os.environ.get(
        "SUDO_USER") else user


def record_reveal(home: Path, *, urn: int | None = None,
                  partner: str | None = None) -> dict[str, Any]:
    """Append (and sync) one reveal's record; raises ``OSError`` if it cannot be written, and
    then the password must not be shown."""
    entry: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="seconds"),
                             "os_user": os_user(), "host": socket.gethostname()}
    entry |= {"school_urn": urn} if partner is None else {"partner": partner}
    path = reveals_path(home)
    make_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(path.parent)
    return entry


def read_reveals(home: Path) -> list[dict[str, Any]]:
    """Every reveal recorded, oldest first (a damaged line is shown as such, never skipped)."""
    path = reveals_path(home)
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(dict(json.loads(line)))
        except ValueError:
            out.append({"at": "?", "damaged_line": number})
    return out


def describe(entry: dict[str, Any]) -> str:
    if "damaged_line" in entry:
        return f"line {entry['damaged_line']} of the reveals record is damaged"
    which = (f"school {entry['school_urn']}" if "school_urn" in entry
             else f"partner {entry.get('partner')}")
    return f"{entry.get('at')}  {entry.get('os_user')} on {entry.get('host')}  {which}"
