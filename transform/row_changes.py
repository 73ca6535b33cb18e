"""What changed for a school's pupils since its previous published databook.

Pure functions over published rows (the columns of ``schemas.databook``, in that order, as
``str``, ``date`` or ``None``): the comparison sees exactly what the school saw and nothing
else, so a change can only ever repeat a value a school was given, and never says why.

Where the previous rows come from (the caller's job, decided here because it shapes these
functions): the school's previous *workbook*, decrypted with the keystore's key for that school,
not a second snapshot of the rows kept under the master key.

- One copy of the truth. The previous workbook is what the school actually received, checked
  against the signed manifest's SHA-256 before it is read. A snapshot would be a second copy
  of every child's details at rest, which must be kept in step with the drop (a killed run, a
  run pruned by retention, a rotation, a restore from backup) and deleted with it.
- Few decryptions. Each school's manifest entry carries a keyed digest of its rows
  (:func:`rows_digest`, HMAC-SHA-256 under the keystore's pseudonym key, so the digest cannot
  be used to test a guess of a small school's rows). A run compares today's digest with the
  previous one and decrypts only the schools whose rows differ: a ``--changed-only`` run on a
  600-school county reads one manifest and, say, five workbooks; a nightly run reads only the
  workbooks of schools that changed, in the worker processes that render (about 1 ms each with
  the cached key derivation, plus a few ms to read a small sheet back). Memory stays one
  school's rows per worker; nothing county-wide is held beyond the rows the run builds anyway.
- A first databook (no previous entry for the school, or no previous run) has nothing to
  compare with and says so. After a password rotation the latest file is under the school's
  current password, which the keystore holds; the digest does not depend on the password.
  A manifest from before this feature has no digest: the school's workbook is then read.

Children are matched by UPN; a row with no UPN is matched by name and date of birth (the roll
may lack a UPN for a child matched by the education system's id). A key seen twice on one side
is paired in order, so every row is on exactly one side of the comparison and the change count
balances: rows today minus rows before equals joined minus left.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from schemas import codes
from schemas.changes import (
    BALANCE_COLUMNS,
    CAUTION_SEPARATOR,
    FLAG_CHANGES,
    LABELS,
    MANIFEST_ROWS_DIGEST,
    ChangeKind,
)
from schemas.databook import KEYS

Value = str | date | None
Row = tuple[Value, ...]
ChildKey = tuple[str, str, int]
DIGEST_CONTEXT = b"safeguarding-databook rows v2\n"
UNIT = "\x1f"
_INDEX = {key: i for i, key in enumerate(KEYS)}


@dataclass(frozen=True)
class Change:
    """One row of a Changes sheet: whose, what, and the published values before and after."""

    upn: str | None
    name: str | None
    kind: ChangeKind
    before: Value = None
    after: Value = None

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    def as_row(self) -> Row:
        """The sheet's columns, in ``schemas.changes.CHANGE_COLUMNS`` order."""
        return (self.upn, self.name, self.label, self.before, self.after)


@dataclass(frozen=True)
class Previous:
    """The databook a school's changes are counted from."""

    run_id: str
    as_at: date
    rows: int


@dataclass(frozen=True)
class SchoolChanges:
    """A school's changes; ``previous`` is None for its first databook."""

    previous: Previous | None
    changes: tuple[Change, ...] = ()

    def count(self, kind: ChangeKind) -> int:
        return sum(1 for c in self.changes if c.kind is kind)


def normalise(value: object) -> Value:
    """A value as a workbook gives it back: text without the control characters XML cannot
    hold, no empty text, dates without a time. Both sides of a comparison and the digest go
    through this, so reading a file back never shows a change that was not made."""
    if value is None:
        return None
    if type(value) is str and value.isprintable():  # most values: no control character at all
        return value or None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    return text or None


def normalise_rows(rows: Iterable[Sequence[object]]) -> list[Row]:
    out = []
    width = len(KEYS)
    for row in rows:
        if len(row) != width:
            raise ValueError("a databook row does not have the schema's columns")
        out.append(tuple([normalise(v) for v in row]))
    return out


def _get(row: Row, key: str) -> Value:
    return row[_INDEX[key]]


def _text(value: Value) -> str:
    if type(value) is str:
        return value
    return "" if value is None else value.isoformat() if isinstance(value, date) else value


def child_key(row: Row) -> tuple[str, str]:
    """UPN when there is one, else name and date of birth."""
    upn = _get(row, "upn")
    if upn:
        return ("upn", _text(upn))
    return ("name+dob", f"{_text(_get(row, 'name'))}|{_text(_get(row, 'date_of_birth'))}")


def keyed(rows: Sequence[Row]) -> dict[ChildKey, Row]:
    """Rows by child; a key seen again gets the next occurrence number."""
    seen: dict[tuple[str, str], int] = {}
    out: dict[ChildKey, Row] = {}
    for row in rows:
        base = child_key(row)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out[(*base, n)] = row
    return out


def rows_digest(rows: Iterable[Sequence[object]], key: bytes) -> str:
    """A keyed digest of a school's rows, independent of row order: equal digests mean the
    school's databook would show exactly the same rows."""
    # Normalised text holds no control character, so these separators cannot be forged, and
    # no empty text, so an empty field is a missing value.
    lines = sorted(UNIT.join([_text(v) for v in row]) for row in normalise_rows(rows))
    mac = hmac.new(key, DIGEST_CONTEXT, hashlib.sha256)
    for line in lines:
        mac.update(line.encode())
        mac.update(b"\x1e")
    return mac.hexdigest()


def _cautions(value: Value) -> list[str]:
    return [c for c in _text(value).split(CAUTION_SEPARATOR) if c]


def _flag_changes(before: Row, after: Row, upn: str | None, name: str | None) -> list[Change]:
    out: list[Change] = []
    for flag, day, started, ended in FLAG_CHANGES:
        was, now = _get(before, flag) == codes.YES, _get(after, flag) == codes.YES
        old, new = _get(before, day), _get(after, day)
        if was and (not now or old != new):
            end: Value = None
            if flag == "cp_current" and _get(after, "previous_cp_date") == old:
                end = _get(after, "previous_cp_end_date")  # the plan that ended, as published
            out.append(Change(upn, name, ended, old, end))
        if now and (not was or old != new):
            out.append(Change(upn, name, started, None, new))
    return out


def _dv_change(before: Row, after: Row, upn: str | None, name: str | None) -> list[Change]:
    old, new = _get(before, "dv_notification_date"), _get(after, "dv_notification_date")
    if _get(after, "dv_notification") != codes.YES or not isinstance(new, date):
        return []  # a notification that ages out of the look-back is not news
    if isinstance(old, date) and new <= old:
        return []
    return [Change(upn, name, ChangeKind.DV_NEW, old, new)]


def _contact_changes(before: Row, after: Row, upn: str | None,
                     name: str | None) -> list[Change]:
    out = []
    for key, kind in (("social_worker", ChangeKind.WORKER_CHANGED),
                      ("social_worker_phone", ChangeKind.WORKER_PHONE_CHANGED)):
        if _get(before, key) != _get(after, key):
            out.append(Change(upn, name, kind, _get(before, key), _get(after, key)))
    return out


def _caution_changes(before: Row, after: Row, upn: str | None,
                     name: str | None) -> list[Change]:
    old, new = _cautions(_get(before, "cautions")), _cautions(_get(after, "cautions"))
    return ([Change(upn, name, ChangeKind.CAUTION_ADDED, None, c) for c in new if c not in old]
            + [Change(upn, name, ChangeKind.CAUTION_REMOVED, c, None)
               for c in old if c not in new])


def _address_change(before: Row, after: Row, upn: str | None, name: str | None,
                    withheld: str) -> list[Change]:
    old, new = _get(before, "principal_address"), _get(after, "principal_address")
    if old != withheld and new == withheld:
        # The earlier address is deliberately not repeated: it must no longer be disclosed.
        return [Change(upn, name, ChangeKind.ADDRESS_WITHHELD, None, new)]
    if old == withheld and new != withheld:
        return [Change(upn, name, ChangeKind.ADDRESS_NOT_WITHHELD, old, new)]
    return []


def child_changes(before: Row, after: Row, withheld: str) -> list[Change]:
    """Every reportable change for one child who is in both databooks, in the order of
    ``ChangeKind``. ``withheld`` is the text a withheld address is published as."""
    upn, name = _get(after, "upn"), _get(after, "name")
    upn_s = upn if isinstance(upn, str) else None
    name_s = name if isinstance(name, str) else None
    found = (_flag_changes(before, after, upn_s, name_s) + _dv_change(before, after, upn_s, name_s)
             + _contact_changes(before, after, upn_s, name_s)
             + _caution_changes(before, after, upn_s, name_s)
             + _address_change(before, after, upn_s, name_s, withheld))
    order = {kind: i for i, kind in enumerate(ChangeKind)}
    return sorted(found, key=lambda c: order[c.kind])


def _who(row: Row) -> tuple[str | None, str | None]:
    upn, name = _get(row, "upn"), _get(row, "name")
    return (upn if isinstance(upn, str) else None, name if isinstance(name, str) else None)


def compare(previous: Sequence[Sequence[object]], today: Sequence[Sequence[object]],
            withheld: str) -> tuple[Change, ...]:
    """A school's changes: its children in today's order (joined, or what changed), then the
    children who left, in the previous databook's order."""
    before = keyed(normalise_rows(previous))
    after = keyed(normalise_rows(today))
    out: list[Change] = []
    for key, row in after.items():
        if key not in before:
            out.append(Change(*_who(row), ChangeKind.JOINED))
        else:
            out.extend(child_changes(before[key], row, withheld))
    out += [Change(*_who(row), ChangeKind.LEFT) for key, row in before.items() if key not in after]
    return tuple(out)


def school_changes(previous: Previous | None, previous_rows: Sequence[Sequence[object]],
                   today: Sequence[Sequence[object]], withheld: str) -> SchoolChanges:
    """A school's changes since ``previous``; a first databook (``previous`` None) has none."""
    if previous is None:
        return SchoolChanges(None)
    return SchoolChanges(previous, compare(previous_rows, today, withheld))


def balance(urn: int, changes: SchoolChanges, rows_today: int) -> dict[str, int] | None:
    """The school's line for the change-count check, or None for a first databook. The
    previous count is the signed manifest's, not the rows read back, so a workbook that read
    back short, or children paired wrongly, fails the check."""
    if changes.previous is None:
        return None
    joined, left = changes.count(ChangeKind.JOINED), changes.count(ChangeKind.LEFT)
    values = (urn, changes.previous.rows, rows_today, joined, left,
              rows_today - changes.previous.rows, joined - left)
    return dict(zip(BALANCE_COLUMNS, values, strict=True))


def unchanged(previous: Previous) -> SchoolChanges:
    """A school whose digest matches its previous one: nothing to read, nothing to list."""
    return SchoolChanges(previous)


def digests_differ(previous: Mapping[str, object] | None, digest: str) -> bool:
    """Whether a school's rows need comparing: no previous entry is a first databook (handled
    by the caller); an entry without a digest (an older manifest) must be read to know."""
    if previous is None:
        return True
    old = previous.get(MANIFEST_ROWS_DIGEST)
    return not isinstance(old, str) or not hmac.compare_digest(old, digest)
