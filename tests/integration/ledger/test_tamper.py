"""``audit verify`` catches rows changed, deleted, inserted, reordered and truncated directly in
the database (SQLite and PostgreSQL), naming the first entry or checkpoint that does not match;
and any single-byte change anywhere in a stored entry or checkpoint (property test)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from databook.database import engine_for
from databook.ledger import log, merkle
from databook.ledger.config import load_signer
from databook.ledger.entries import canonical, parse
from databook.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerNode
from databook.ledger.verify import LedgerBroken, verify_ledger
from tests.support import Ledger, make_ledger
from tests.support import fill_ledger as fill

E = LedgerEntry


def _rewrite(db: Session, idx: int, change: Callable[[dict[str, object]], None],
             fix_hash: bool = True) -> None:
    """Change one entry's signed fields the way an insider with database access would:
    canonical bytes and, if ``fix_hash``, a matching leaf hash."""
    row = db.get(E, idx)
    assert row is not None
    obj = parse(bytes(row.body))
    change(obj)
    body = canonical(obj)
    values: dict[str, object] = {"body": body}
    if fix_hash:
        values["leaf_hash"] = merkle.leaf_hash(body)
    db.execute(update(E).where(E.idx == idx).values(**values))


def _change_body_only(db: Session) -> None:
    _rewrite(db, 5, lambda o: o.update(reason_code="checking"), fix_hash=False)


def _change_with_hash(db: Session) -> None:
    _rewrite(db, 5, lambda o: o.update(reason_code="checking"))


def _change_unsigned_column(db: Session) -> None:
    db.execute(update(E).where(E.idx == 5).values(urn=999999))


def _delete(db: Session) -> None:
    db.execute(delete(E).where(E.idx == 5))


def _insert_in_the_middle(db: Session) -> None:
    rows = db.execute(select(E.idx, E.kind, E.at, E.actor_id, E.urn, E.body, E.leaf_hash)
                      .where(E.idx >= 10).order_by(E.idx.desc())).all()
    for row in rows:  # shift up, newest first, so the key never collides
        db.execute(update(E).where(E.idx == row.idx).values(idx=row.idx + 1))
    forged = db.get(E, 9)
    assert forged is not None
    obj = parse(bytes(forged.body))
    obj["index"] = 10
    body = canonical(obj)
    db.add(E(idx=10, kind=forged.kind, at=forged.at, actor_id=forged.actor_id, urn=forged.urn,
             body=body, leaf_hash=merkle.leaf_hash(body)))


def _swap(db: Session) -> None:
    a, b = db.get(E, 3), db.get(E, 4)
    assert a is not None and b is not None
    cols = ("kind", "at", "actor_id", "urn", "body", "leaf_hash")
    va, vb = ({c: getattr(a, c) for c in cols}, {c: getattr(b, c) for c in cols})
    db.execute(update(E).where(E.idx == 3).values(**vb))
    db.execute(update(E).where(E.idx == 4).values(**va))


def _swap_and_renumber(db: Session) -> None:
    _swap(db)
    _rewrite(db, 3, lambda o: o.update(index=3))
    _rewrite(db, 4, lambda o: o.update(index=4))


def _truncate(db: Session) -> None:
    db.execute(delete(E).where(E.idx >= 12))
    db.execute(delete(LedgerNode).where(LedgerNode.idx >= 6))


def _checkpoint_byte(db: Session) -> None:
    row = db.get(LedgerCheckpoint, 15)
    assert row is not None
    db.execute(update(LedgerCheckpoint).where(LedgerCheckpoint.size == 15)
               .values(note=row.note.replace("\n15\n", "\n14\n")))


@pytest.mark.parametrize("tamper, names", [
    (_change_body_only, "entry 5 does not match its stored leaf hash"),
    (_change_with_hash, "checkpoint 8 does not match"),
    (_change_unsigned_column, "entry 5: its kind, actor, school or time columns"),
    (_delete, "entry 5 is missing"),
    (_insert_in_the_middle, "entry 11 holds the entry recorded as 10"),
    (_swap, "entry 3 holds the entry recorded as 4"),
    (_swap_and_renumber, "checkpoint 8 does not match"),
    (_truncate, "checkpoint 15 covers entries the ledger no longer holds"),
    (_checkpoint_byte, "checkpoint 15:"),
])
def test_verify_names_the_first_thing_tampered(ledger: Ledger, tamper: Callable[[Session], None],
                                               names: str) -> None:
    fill(ledger, 20, checkpoints_at=(8, 15, 20))
    verifier = load_signer(ledger.config).verifier
    with ledger.session() as db:
        assert verify_ledger(db, verifier).checkpoints == 3
    with ledger.session() as db:
        tamper(db)
        db.commit()
    with ledger.session() as db, pytest.raises(LedgerBroken) as caught:
        verify_ledger(db, verifier)
    assert names in str(caught.value)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    folder = tmp_path_factory.mktemp("pristine")
    made = make_ledger(f"sqlite:///{folder / 'portal.sqlite'}", folder / "state")
    fill(made, 13, checkpoints_at=(5, 13))
    made.engine.dispose()
    return made


def _columns(db: Session) -> list[tuple[str, int, str]]:
    targets = [("entry", int(i), c) for i in db.scalars(select(E.idx))
               for c in ("body", "leaf_hash")]
    targets += [("checkpoint", int(s), "note") for s in db.scalars(select(LedgerCheckpoint.size))]
    return targets


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_is_detected(pristine: Ledger, tmp_path: Path,
                                            data: st.DataObject) -> None:
    source = pristine.config.database_url.removeprefix("sqlite:///")
    copy = tmp_path / f"copy-{data.draw(st.integers(0, 10**9))}.sqlite"
    shutil.copy(source, copy)
    engine = engine_for(f"sqlite:///{copy}")
    try:
        with Session(engine) as db:
            table, key, column = data.draw(st.sampled_from(_columns(db)))
            model = E if table == "entry" else LedgerCheckpoint
            pk = E.idx if table == "entry" else LedgerCheckpoint.size
            query = select(getattr(model, column)).where(pk == key)
            value: str | bytes = db.execute(query).scalar_one()
            raw = bytearray(value.encode() if isinstance(value, str) else value)
            at = data.draw(st.integers(0, len(raw) - 1))
            raw[at] ^= data.draw(st.integers(1, 255))
            if isinstance(value, str):
                try:
                    new: object = raw.decode()
                except UnicodeDecodeError:
                    assume(False)
            else:
                new = bytes(raw)
            db.execute(update(model).where(pk == key).values({column: new}))
            db.commit()
            with pytest.raises(LedgerBroken):
                verify_ledger(db, load_signer(pristine.config).verifier)
    finally:
        engine.dispose()
        copy.unlink()


def test_stored_nodes_give_the_same_proofs_as_the_recomputed_tree(sqlite_ledger: Ledger) -> None:
    fill(sqlite_ledger, 37)
    with sqlite_ledger.session() as db:
        tree = merkle.MemoryTree()
        for body in db.scalars(select(E.body).order_by(E.idx)):
            tree.append(merkle.leaf_hash(bytes(body)))
        for n in (1, 2, 17, 32, 37):
            assert log.root(db, n) == tree.root(n)
            for i in (0, n // 2, n - 1):
                assert log.inclusion_proof(db, i, n) == merkle.inclusion_proof(tree, i, n)
            assert log.consistency_proof(db, 1, n) == merkle.consistency_proof(tree, 1, n)
