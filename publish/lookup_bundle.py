"""A school's look-up bundle: each child's row sealed on its own, and an index of blind tokens,
so the portal can hand a DSL one row after recording which one, without ever being able to read
a row, a name or a date of birth itself (docs/explanation/lookup.md).

Keys, from the school's password (the one that opens its workbook) and a random 16-byte salt
per school kept in the keystore::

    root    = PBKDF2-HMAC-SHA256(password as UTF-8, salt, 600,000)        (32 bytes)
    k_index = HKDF-SHA256(root, salt="", info="databook lookup index v1")  (32 bytes)
    k_rows  = HKDF-SHA256(root, salt="", info="databook lookup rows v1")
    k_check = HKDF-SHA256(root, salt="", info="databook lookup check v1")

All four are in WebCrypto, so the browser derives the same keys (``portal/static/lookup.js``).

The bundle is canonical JSON (sorted keys, no spaces, UTF-8), deterministic apart from the
rows' random nonces::

    {"format": 1, "kind": "databook-lookup", "urn": 100001, "run_id": "...", "as_at": "...",
     "kdf": "PBKDF2-HMAC-SHA256", "iterations": 600000, "salt": "<base64>",
     "check": "<hex HMAC(k_check, 'databook lookup v1' || urn || run_id)>",
     "columns": [{"label": "UPN", "kind": "text", "key": "upn"}, ...],
     "index": {"<hex token>": "<row id>" | null, ...},
     "rows": {"<row id>": "<base64 nonce(12) || AES-256-GCM ciphertext || tag(16)>", ...}}

A token is ``HMAC(k_index, "upn:" || normalise(UPN))`` or ``HMAC(k_index, "name:" ||
normalise(surname) || ":" || date of birth as YYYY-MM-DD)``. The published row has one name
column (forenames then surname), so every run of its trailing words counts as a surname
("Ann Lee Smith": "smith" and "leesmith"). A token that two children share (twins) maps to
null: the portal says "more than one pupil matches; use the UPN". A row id is the manifest's
member pseudonym for the child; its plaintext is ``{"rows": [[value, ...], ...]}`` (values in
``columns`` order, dates as YYYY-MM-DD, missing as null; usually one row, more when the
workbook lists the child twice), sealed with AAD ``"databook lookup v1" || urn || run_id ||
row_id`` so a row cannot be replayed under another school, run or child. ``||`` is plain
concatenation of UTF-8 text, with a newline between fields so no two tuples collide.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from publish.errors import PublishError
from schemas.databook import COLUMNS, KEYS

FORMAT = 1
KIND = "databook-lookup"
KDF = "PBKDF2-HMAC-SHA256"
#: OWASP's current figure for PBKDF2-HMAC-SHA256. Never lowered.
ITERATIONS = 600_000
SALT_BYTES = 16
NONCE_BYTES = 12
DOMAIN = "databook lookup v1"
INFO_INDEX = b"databook lookup index v1"
INFO_ROWS = b"databook lookup rows v1"
INFO_CHECK = b"databook lookup check v1"
SUFFIX = ".lookup.json"
_UPN, _NAME, _DOB = KEYS.index("upn"), KEYS.index("name"), KEYS.index("date_of_birth")

Value = str | date | None


@dataclass(frozen=True, repr=False)
class LookupKey:
    """A school's look-up salt and the three keys its password derives. Opens every sealed
    row of the school without guessing: as secret as the password (keystore only)."""

    salt: bytes
    iterations: int
    k_index: bytes
    k_rows: bytes
    k_check: bytes

    def to_json(self) -> dict[str, Any]:
        return {"salt": _b64(self.salt), "iterations": self.iterations,
                "k_index": _b64(self.k_index), "k_rows": _b64(self.k_rows),
                "k_check": _b64(self.k_check)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LookupKey:
        return cls(base64.b64decode(data["salt"]), int(data["iterations"]),
                   base64.b64decode(data["k_index"]), base64.b64decode(data["k_rows"]),
                   base64.b64decode(data["k_check"]))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hkdf(root: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(root)


def derive(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> LookupKey:
    """The one slow step (~0.3 s): done once per school and password, then cached."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    root = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, 32)
    return LookupKey(salt, iterations, _hkdf(root, INFO_INDEX), _hkdf(root, INFO_ROWS),
                     _hkdf(root, INFO_CHECK))


def derive_for(item: tuple[int, str]) -> tuple[int, LookupKey]:
    """``derive`` for a pool's ``map`` over (urn, password)."""
    urn, password = item
    return urn, derive(password)


#: Letters that Unicode does not decompose into a base letter and marks, spelled as English
#: records (and keyboards) usually spell them. Keys are lower case: applied after folding.
#: lookup.js holds the same table; tests/data/lookup_names.json checks the two agree.
FOLDS = {"\u0131": "i", "\u00df": "ss", "\u00f8": "o", "\u00e6": "ae", "\u0153": "oe",
         "\u0142": "l", "\u0111": "d", "\u00f0": "d", "\u00fe": "th", "\u0127": "h",
         "\u0167": "t", "\u0138": "k", "\u014b": "ng", "\u0180": "b", "\u0183": "b",
         "\u0188": "c", "\u0192": "f", "\u0199": "k", "\u019a": "l", "\u01b4": "y",
         "\u01b6": "z", "\u0237": "j"}
_FOLD = str.maketrans(FOLDS)


def _kept(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] == "L" or category == "Nd"


def normalise(text: str) -> str:
    """The one rule for a look-up key's text, on both sides (the browser's ``normalise`` in
    lookup.js is the same steps): NFKD; case folded as JavaScript can (upper then lower case,
    final sigma as sigma; ``casefold`` has no JavaScript twin); NFKD again;
    combining marks dropped; the letters Unicode does not decompose mapped by ``FOLDS``
    (ı to i, ß to ss, ø to o, æ to ae, ł to l, đ to d ...); then only letters and decimal
    digits kept. So "Yılmaz", "YILMAZ" and "Yilmaz" are one surname, as are "O'Brien",
    "o brien" and "OBRIEN", and "Müller" and "Muller". Two children it makes share a key
    (same surname so folded, same date of birth) are told apart by UPN, as twins are."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).upper().lower()
                                   .replace("\u03c2", "\u03c3"))
    bare = "".join(c for c in folded if unicodedata.category(c)[0] != "M")
    return "".join(c for c in bare.translate(_FOLD) if _kept(c))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.digest(key, text.encode("utf-8"), "sha256")


def upn_token(key: LookupKey, upn: str) -> str:
    return _hmac(key.k_index, "upn:" + normalise(upn)).hex()


def name_token(key: LookupKey, surname: str, dob: date | str) -> str:
    day = dob.isoformat() if isinstance(dob, date) else dob
    return _hmac(key.k_index, "name:" + normalise(surname) + ":" + day).hex()


def check_value(key: LookupKey, urn: int, run_id: str) -> str:
    return _hmac(key.k_check, f"{DOMAIN}\n{urn}\n{run_id}").hex()


def aad(urn: int, run_id: str, row_id: str) -> bytes:
    return f"{DOMAIN}\n{urn}\n{run_id}\n{row_id}".encode()


def seal(key: LookupKey, urn: int, run_id: str, row_id: str, plain: bytes,
         nonce: bytes | None = None, cipher: AESGCM | None = None) -> str:
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    cipher = AESGCM(key.k_rows) if cipher is None else cipher
    return _b64(nonce + cipher.encrypt(nonce, plain, aad(urn, run_id, row_id)))


def open_row(key: LookupKey, urn: int, run_id: str, row_id: str, sealed: str) -> bytes:
    """The row's plaintext; ``cryptography.exceptions.InvalidTag`` if anything was changed."""
    data = base64.b64decode(sealed)
    return AESGCM(key.k_rows).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:],
                                      aad(urn, run_id, row_id))


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def row_plain(rows: Sequence[Sequence[Value]]) -> bytes:
    return _COMPACT.encode({"rows": [[v.isoformat() if isinstance(v, date) else v
                                      for v in row] for row in rows]}).encode()


def tokens_for(key: LookupKey, row: Sequence[Value]) -> set[str]:
    """The row's tokens: its UPN's, and one per surname the name may end in (every run of
    trailing words; the one word of a one-word name). Each word is normalised once: spaces
    are dropped, so a run of words normalises to its words' normalised forms joined."""
    found = set()
    upn, name, dob = row[_UPN], row[_NAME], row[_DOB]
    if isinstance(upn, str) and (plain := normalise(upn)):
        found.add(_hmac(key.k_index, "upn:" + plain).hex())
    if isinstance(name, str) and dob is not None:
        day = dob.isoformat() if isinstance(dob, date) else str(dob)
        words = [normalise(w) for w in name.split()]
        for i in range(1 if len(words) > 1 else 0, len(words)):
            if surname := "".join(words[i:]):
                found.add(_hmac(key.k_index, "name:" + surname + ":" + day).hex())
    return found


def build(key: LookupKey, urn: int, run_id: str, as_at: date | str,
          rows: Sequence[Sequence[Value]], row_ids: Sequence[str],
          nonce: Callable[[], bytes] | None = None) -> bytes:
    """The bundle's bytes. ``row_ids[i]`` is the pseudonym of ``rows[i]``'s child."""
    if len(rows) != len(row_ids):
        raise PublishError(f"school {urn}: {len(rows)} rows but {len(row_ids)} row ids")
    by_child: dict[str, list[Sequence[Value]]] = {}
    for row, row_id in zip(rows, row_ids, strict=True):
        by_child.setdefault(row_id, []).append(row)
    index: dict[str, str | None] = {}
    for row_id, child_rows in by_child.items():
        for token in set().union(*(tokens_for(key, r) for r in child_rows)):
            index[token] = row_id if index.get(token, row_id) == row_id else None
    cipher = AESGCM(key.k_rows)
    sealed = {row_id: seal(key, urn, run_id, row_id, row_plain(child_rows),
                           None if nonce is None else nonce(), cipher)
              for row_id, child_rows in by_child.items()}
    document = {
        "format": FORMAT, "kind": KIND, "urn": int(urn), "run_id": run_id,
        "as_at": as_at.isoformat() if isinstance(as_at, date) else as_at,
        "kdf": KDF, "iterations": key.iterations, "salt": _b64(key.salt),
        "check": check_value(key, urn, run_id),
        "columns": [{"label": c.header, "kind": c.kind, "key": c.key} for c in COLUMNS],
        "index": index, "rows": sealed}
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def file_name(urn: int) -> str:
    return f"{urn}{SUFFIX}"


def parse(data: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(data)
    if document.get("kind") != KIND or document.get("format") != FORMAT:
        raise PublishError("not a databook look-up bundle of a known format")
    return document


def reseal(data: bytes, old: LookupKey, new: LookupKey, run_id: str) -> bytes:
    """A bundle opened with the old key and rebuilt under the new one for ``run_id`` (a
    password rotation): the rows are opened in memory only, and the index is rebuilt from
    them, as on the night."""
    document = parse(data)
    urn = int(document["urn"])
    rows: list[Sequence[Value]] = []
    ids: list[str] = []
    for row_id, sealed in sorted(document["rows"].items()):
        opened = json.loads(open_row(old, urn, str(document["run_id"]), row_id, sealed))
        for row in opened["rows"]:
            rows.append([_value(v, c.kind) for v, c in zip(row, COLUMNS, strict=True)])
            ids.append(row_id)
    return build(new, urn, run_id, str(document["as_at"]), rows, ids)


def _value(value: Any, kind: str) -> Value:
    if value is None:
        return None
    return date.fromisoformat(value) if kind == "date" else str(value)


def old_key(data: bytes, cached: LookupKey | None, password: str) -> LookupKey:
    """The key a bundle was sealed with: the cache when its salt matches, else derived."""
    document = parse(data)
    salt = base64.b64decode(document["salt"])
    if cached is not None and cached.salt == salt and cached.iterations == document[
            "iterations"]:
        return cached
    return derive(password, salt, int(document["iterations"]))

