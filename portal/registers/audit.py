"""Register changes as ledger entries, in the same transaction as the change itself.

Entries carry counts, URNs, user ids and the officer's action, never a free note's text: the
ledger can never be erased, and a note could hold anything.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from databook.ledger import record
from portal.registers.confirmations import Standing
from portal.registers.store import ImportCounts


def record_import(session: Session, counts: ImportCounts, actor: str | None = None) -> int:
    return record(session, "register_changed", what="import",
                  rows=counts.added + counts.changed, actor_email=actor)


def record_round(session: Session, users: int, urn: int | None,
                 actor: str | None = None) -> int:
    return record(session, "council_action", action="dsl_confirmation_requested",
                  target=f"{users} users", urn=urn, actor_email=actor)


def record_confirmed(session: Session, user_id: int, email: str, urn: int,
                     actor: str | None = None) -> int:
    return record(session, "council_action", action="dsl_confirmed",
                  target=f"user {user_id} {email}", urn=urn, actor_email=actor)


def record_suspended(session: Session, one: Standing, window_days: int) -> int:
    return record(session, "user_suspended", target_id=one.user_id, target_email=one.email,
                  reason_text=f"school {one.urn} did not confirm this DSL within "
                              f"{window_days} days of the request on {one.requested_on}")
