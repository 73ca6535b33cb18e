"""The portal signs a ledger checkpoint after a POST when one is due, and in between does
not ask the database (a transaction on SQLite takes the write lock every append waits for)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import event, select, update

from databook.ledger.models import LedgerCheckpoint
from portal.migrate import ready
from tests.support import Env, add_user, download, sign_in

A = 100001


def checkpoints(env: Env) -> list[tuple[int, datetime]]:
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir)() as db:
        return [(c.size, c.signed_at) for c in db.scalars(
            select(LedgerCheckpoint).order_by(LedgerCheckpoint.size))]


def test_a_checkpoint_is_signed_when_due_and_not_looked_for_before(client: TestClient,
                                                                   env: Env) -> None:
    context = client.app.state.portal  # type: ignore[attr-defined]
    engine = context.sessions.kw["bind"]
    secret = add_user(env, "ann.lead@alder.example", [A])
    sign_in(client, env, "ann.lead@alder.example", secret)
    first = checkpoints(env)
    assert len(first) == 1  # the first POST with entries signed one at once
    signed = first[0][1] if first[0][1].tzinfo else first[0][1].replace(tzinfo=UTC)
    assert context.checkpoints.due == signed + timedelta(minutes=10)

    begun: list[str] = []
    event.listen(engine, "begin", lambda _conn: begun.append("begin"))
    assert download(client, A).status_code == 200
    assert checkpoints(env) == first  # not due: the download is in no checkpoint yet
    looked = len(begun)

    # Ten minutes on: the ledger says a checkpoint is due, and the clock lets the POST ask.
    with ready(env.settings.portal.database_url, env.settings.portal.state_dir)() as db:
        db.execute(update(LedgerCheckpoint).values(
            signed_at=datetime.now(UTC) - timedelta(minutes=11)))
        db.commit()
    context.checkpoints.due = datetime.now(UTC) - timedelta(seconds=1)
    begun.clear()
    assert download(client, A).status_code == 200
    after = checkpoints(env)
    assert len(after) == 2 and after[1][0] > first[0][0]
    assert len(begun) == looked + 1  # the same transactions as before, plus the checkpoint's
