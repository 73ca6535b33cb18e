"""Entries only the portal host could have written, and heads that only ever grow.

A signed checkpoint proves the entries it covers have not changed since it was signed; it
says nothing about how they got into the database. Whoever can write the portal database
(and nothing else) could otherwise delete, rewrite or invent entries in the seconds before the
next checkpoint, and the tail signer would sign them. Two rules close that, with two things
kept on the portal host, in its state folder, and never in the database:

- **The entry key** (``ledger-entry.key``, 32 random bytes, mode 0600). Every entry's row
  carries ``seal = HMAC-SHA256(key, "databook ledger entry v1\\n" || entry bytes)``; the entry
  bytes themselves (the signed JSON) are unchanged. The signer checks the seal of every entry
  it is about to cover, and ``audit verify`` checks every seal, so an entry written with the
  database alone is named and never signed.
- **The last head signed** (``ledger-head.json``: its size, root and the O(log n) "frontier"
  hashes of the perfect subtrees that make it up). The signer extends that frontier with the
  new, sealed entries' leaf hashes and signs only if the database's own tree agrees: what it
  signs is, by construction, an extension of what it signed before. A database whose history
  was cut back or rewritten is refused, and ``audit verify`` on the host says so too.

The checks are the signer's, in the signer's transaction; a refusal is ``LedgerForged``.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from databook.fsio import write_file
from databook.ledger import merkle
from databook.ledger.models import LedgerEntry

KEY_FILE = "ledger-entry.key"
HEAD_FILE = "ledger-head.json"
SEAL_CONTEXT = b"databook ledger entry v1\n"


class LedgerForged(Exception):
    """The database's ledger is not an extension, by the portal host, of what it signed."""


class NoEntryKey(Exception):
    """An append was attempted by a process that does not hold the portal's entry key."""


def seal(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, SEAL_CONTEXT + body, hashlib.sha256).digest()


def sealed_by(key: bytes, body: bytes, stored: bytes | None) -> bool:
    return stored is not None and hmac.compare_digest(seal(key, body), bytes(stored))


# --- the key, on the host ------------------------------------------------------------------

def _private_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, data)


def load_key(state_dir: Path, create: bool = True) -> bytes | None:
    """The entry key (made on first use, never replaced), or None when absent and not
    ``create`` (a host that does not append: the council's, running ``audit verify``)."""
    path = state_dir / KEY_FILE
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temp, path)  # atomic; never replaces a key another process made first
        except FileExistsError:
            pass
        finally:
            temp.unlink()
    if path.stat().st_mode & 0o077:
        raise NoEntryKey(f"{path} must be readable by its owner only (chmod 600)")
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        raise NoEntryKey(f"{path} is not a ledger entry key") from None
    if len(key) != 32:
        raise NoEntryKey(f"{path} is not a ledger entry key")
    return key


_KEYS: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()
#: The same keys by database URL, for other engines this process opens on that database
#: (a command's second engine): the key is still only ever read from the host's folder.
_BY_URL: dict[str, bytes] = {}


def attach(engine: Engine, state_dir: Path, create: bool = True) -> Engine:
    """Let sessions on ``engine`` append (and check seals) with this host's entry key."""
    key = load_key(state_dir, create)
    if key is not None:
        _KEYS[engine] = key
        _BY_URL[engine.url.render_as_string(hide_password=False)] = key
    return engine


def key_of(db: Session) -> bytes | None:
    bind = db.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    found = _KEYS.get(engine)
    if found is None:
        found = _BY_URL.get(engine.url.render_as_string(hide_password=False))
    return found


# --- the head, on the host -----------------------------------------------------------------

@dataclass
class Frontier:
    """A tree of ``size`` leaves as the roots of its perfect subtrees, largest first (one per
    set bit of ``size``): enough to append leaves and compute the RFC 9162 root."""

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        h, index = leaf, self.size
        while index & 1:
            h = merkle.node_hash(self.hashes.pop(), h)
            index >>= 1
        self.hashes.append(h)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return merkle.EMPTY_ROOT
        h = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            h = merkle.node_hash(left, h)
        return h

    def dump(self) -> bytes:
        return json.dumps({"size": self.size, "root": _b64(self.root()),
                           "frontier": [_b64(h) for h in self.hashes]}, indent=1).encode()

    @classmethod
    def load(cls, text: str) -> Frontier:
        obj = json.loads(text)
        made = cls(int(obj["size"]), [base64.b64decode(h) for h in obj["frontier"]])
        if len(made.hashes) != bin(made.size).count("1") or _b64(made.root()) != obj["root"]:
            raise ValueError("its frontier does not make its root")
        return made


def _b64(h: bytes) -> str:
    return base64.b64encode(h).decode()


@contextmanager
def _head_lock(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / f".{HEAD_FILE}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def load_head(state_dir: Path) -> Frontier | None:
    path = state_dir / HEAD_FILE
    if not path.exists():
        return None
    try:
        return Frontier.load(path.read_text())
    except (ValueError, KeyError, TypeError) as exc:
        raise LedgerForged(f"{path} cannot be read ({exc})") from None


def save_head(state_dir: Path, head: Frontier) -> None:
    """Keep ``head`` as the last head signed, unless a larger one is already kept (workers
    commit in any order; the head only ever grows)."""
    with _head_lock(state_dir):
        kept = load_head(state_dir)
        if kept is None or kept.size < head.size:
            _private_write(state_dir / HEAD_FILE, head.dump())


# --- the signer's rule ---------------------------------------------------------------------

def extend(db: Session, key: bytes, start: Frontier, size: int) -> Frontier:
    """``start`` extended by entries ``start.size`` to ``size - 1`` as stored, each one's
    leaf hash recomputed from its bytes and its seal checked; LedgerForged naming the first
    that is missing, moved or not sealed with this host's key."""
    head = Frontier(start.size, list(start.hashes))
    rows = db.execute(select(LedgerEntry.idx, LedgerEntry.body, LedgerEntry.leaf_hash,
                             LedgerEntry.seal).where(LedgerEntry.idx >= start.size,
                                                     LedgerEntry.idx < size)
                      .order_by(LedgerEntry.idx))
    for idx, body, leaf, stored_seal in rows:
        if idx != head.size:
            raise LedgerForged(f"entry {head.size} is missing (the next stored is {idx})")
        body = bytes(body)
        if not sealed_by(key, body, stored_seal):
            raise LedgerForged(f"entry {idx} was not written by this portal (its seal does "
                               "not match): it was added or changed in the database")
        if merkle.leaf_hash(body) != bytes(leaf):
            raise LedgerForged(f"entry {idx} does not match its stored leaf hash")
        head.append(merkle.leaf_hash(body))
    if head.size != size:
        raise LedgerForged(f"entry {head.size} is missing")
    return head


def rebuild(db: Session, key: bytes | None, size: int) -> Frontier:
    """The frontier of the first ``size`` stored entries, from their bytes (once per host:
    when there is no head file yet, from a checkpoint whose signature was checked). Sealed
    entries' seals are checked; entries from before seals existed are taken as the checked
    checkpoint covers them."""
    head = Frontier()
    rows = db.execute(select(LedgerEntry.idx, LedgerEntry.body, LedgerEntry.seal)
                      .where(LedgerEntry.idx < size).order_by(LedgerEntry.idx)
                      .execution_options(yield_per=20_000))
    for idx, body, stored_seal in rows:
        if idx != head.size:
            raise LedgerForged(f"entry {head.size} is missing (the next stored is {idx})")
        body = bytes(body)
        if key is not None and stored_seal is not None and not sealed_by(key, body,
                                                                           stored_seal):
            raise LedgerForged(f"entry {idx} was not written by this portal (its seal does "
                               "not match)")
        head.append(merkle.leaf_hash(body))
    if head.size != size:
        raise LedgerForged(f"entry {head.size} is missing")
    return head
