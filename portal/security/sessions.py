"""Server-side sessions: the cookie holds an opaque 256-bit token, the database its SHA-256.

A session is one row, so ending it (sign-out, a leaver, a reset) is deleting rows and takes
effect at the very next request, in every worker. A new token is issued at every change of
privilege (password accepted, second factor accepted), so a token planted before sign-in is
worthless after it. Idle and absolute limits are checked on every request.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from portal.models import WebSession
from portal.security.tokens import digest, new_token

#: adding: a signed-in user who typed their password again to add a second factor.
STAGES = ("enrolling", "second_factor", "full", "adding")


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def start(db: Session, user_id: int, stage: str, *, replacing: WebSession | None = None
          ) -> tuple[str, WebSession]:
    """A new session (and token); the one it replaces, if any, is deleted."""
    if stage not in STAGES:
        raise ValueError(f"unknown session stage {stage}")
    if replacing is not None:
        db.delete(replacing)
    token = new_token()
    moment = now()
    row = WebSession(token_hash=digest(token), user_id=user_id, stage=stage,
                     created_at=moment, last_seen_at=moment)
    db.add(row)
    db.flush()
    return token, row


#: A page touches its session at most this often: fewer writes per page.
TOUCH_EVERY = timedelta(seconds=30)


def _row(db: Session, token: str | None) -> WebSession | None:
    if not token or len(token) > 100:
        return None
    return db.scalar(select(WebSession).where(WebSession.token_hash == digest(token)))


def _upkeep(row: WebSession, idle: timedelta, absolute: timedelta) -> str:
    """``"expired"``, ``"touch"`` (``last_seen_at`` is due to move) or ``""``. Half-way stages
    (enrolling, second factor) get the idle limit as their whole life."""
    moment = now()
    limit = absolute if row.stage == "full" else idle
    if moment - aware(row.last_seen_at) > idle or moment - aware(row.created_at) > limit:
        return "expired"
    return "touch" if moment - aware(row.last_seen_at) > TOUCH_EVERY else ""


def peek(db: Session, token: str | None, *, idle: timedelta, absolute: timedelta
         ) -> tuple[WebSession | None, str]:
    """The live session for a cookie, and its upkeep (``_upkeep``), writing nothing: a
    read-only transaction can call it; ``keep_up`` writes the upkeep later."""
    row = _row(db, token)
    if row is None:
        return None, ""
    upkeep = _upkeep(row, idle, absolute)
    return (None if upkeep == "expired" else row), upkeep


def keep_up(db: Session, token: str, upkeep: str) -> None:
    """Do what ``peek`` said, in a write transaction: delete the expired session, or move
    ``last_seen_at`` (never backwards, should two pages of one session race)."""
    hashed, moment = digest(token), now()
    if upkeep == "expired":
        db.execute(delete(WebSession).where(WebSession.token_hash == hashed))
    elif upkeep == "touch":
        db.execute(update(WebSession).where(WebSession.token_hash == hashed,
                                            WebSession.last_seen_at < moment)
                   .values(last_seen_at=moment))


def find(db: Session, token: str | None, *, idle: timedelta, absolute: timedelta
         ) -> WebSession | None:
    """The live session for a cookie, touched; an expired one is deleted and None returned
    (the caller's transaction writes)."""
    row = _row(db, token)
    if row is None:
        return None
    upkeep = _upkeep(row, idle, absolute)
    if upkeep == "expired":
        db.delete(row)
        db.flush()
        return None
    if upkeep == "touch":
        row.last_seen_at = now()
    return row


def end_all(db: Session, user_id: int) -> int:
    result = db.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)
