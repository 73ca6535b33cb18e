"""The portal's account tables (made by migration ``0001_accounts``).

Secrets are never stored in a form that signs someone in: passwords as Argon2id hashes,
session and enrolment tokens as SHA-256 digests, TOTP secrets encrypted under a key kept in
the portal's state folder (not in the database), passkeys as public keys only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from databook.database import Base

ROLES = ("dsl", "deputy", "head", "council", "partner")
#: invited: added, not yet enrolled; active: may sign in; suspended: reported as a leaver by
#: their school, until the council confirms (left) or reverses it; left: disabled for good.
STATES = ("invited", "active", "suspended", "left")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="invited")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    schools: Mapped[list[UserSchool]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="UserSchool.urn")


class UserSchool(Base):
    """A school the user may collect for. A user may hold several."""

    __tablename__ = "user_schools"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    urn: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user: Mapped[User] = relationship(back_populates="schools")


class Credential(Base):
    """A second factor: a passkey (public key and sign count) or a TOTP secret (encrypted)."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # passkey | totp
    credential_id: Mapped[bytes | None] = mapped_column(LargeBinary(1024), unique=True)
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary(2048))
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary(512))
    last_totp_step: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WebSession(Base):
    """A server-side session: only the token's digest is stored, so a copy of the database
    cannot be replayed as a cookie, and deleting the row ends the session at once."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: enrolling: password set from a link; second_factor: password checked; full: signed in.
    stage: Mapped[str] = mapped_column(String(16))
    challenge: Mapped[bytes | None] = mapped_column(LargeBinary(128))  # pending WebAuthn
    pending_totp: Mapped[bytes | None] = mapped_column(LargeBinary(512))  # encrypted, enrolment
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EnrolmentToken(Base):
    __tablename__ = "enrolment_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # enrol | reset
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AgreementAcceptance(Base):
    __tablename__ = "agreement_acceptances"
    __table_args__ = (UniqueConstraint("user_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(40))
    text_sha256: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SigninAttempt(Base):
    """Every attempt, for the lockout count (the ledger holds the provable record)."""

    __tablename__ = "signin_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                                index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))


class SigninBackoff(Base):
    """One failed sign-in step, by (email address, client address) as an HMAC: the
    lockout counts these, so a stranger elsewhere cannot lock a DSL out, and an address with
    no account is locked exactly as one with an account would be. Neither address is stored
    in the clear."""

    __tablename__ = "signin_backoff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
