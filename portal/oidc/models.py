"""The tables of council sign-in through an OpenID provider (migration ``0008_council_oidc``).

Least data: of everything the provider sends, only the subject (the provider's id for the
person, to recognise them again) and the e-mail address (the account's name here) are kept.
No access, refresh or ID token, no authorisation code, no other claim is stored; a pending
sign-in keeps only what this portal chose (the state's digest, the nonce, the PKCE verifier),
for at most ten minutes, and is deleted when used.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from databook.database import Base


class CouncilIdentity(Base):
    __tablename__ = "council_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, autoincrement=False)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OidcPending(Base):
    """One sign-in on its way through the provider: single use, ten minutes."""

    __tablename__ = "oidc_pending"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The digest of a random cookie set on the browser that started it (no login CSRF).
    browser_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    code_verifier: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
