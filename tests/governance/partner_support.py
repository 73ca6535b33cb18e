"""What the partner portal tests share: a run whose manifest lists partners' files, the
partner register, partner users, and the partner routes every test must classify."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from databook.store import LocalStore
from portal.migrate import ready
from portal.models import User
from portal.registers import partner_store
from portal.registers.partners import UserPartner
from publish import manifest
from publish.drop import Signing, new_run_id, write_run
from schemas.partners import PartnerRecord
from tests.portal.helpers import SCHOOLS, Env, add_user

#: Every partner route (issue 22): each calls ``partner_viewer`` or ``partner_downloader``.
PARTNER_ROUTES = frozenset({
    ("GET", "/partners/{partner_id}"), ("GET", "/partners/{partner_id}/download"),
    ("POST", "/partners/{partner_id}/download"),
})
PARTNER_PREFIX = "/partners"
NURSES, LAPSED = "school-nursing", "yot"
#: A pseudonym in the NURSES file (the manifests' form: 64 hex characters).
MEMBER = "ab" * 32


def register_partners(env: Env) -> None:
    """A partner whose agreement is current and one whose review date has passed."""
    today = date.today()
    a, b = sorted(SCHOOLS)[:2]
    with ready(env.settings.portal.database_url).begin() as db:
        partner_store.save(db, [
            PartnerRecord(NURSES, "School Nursing Team", (a, b), ("upn", "name"),
                          today - timedelta(days=10), today + timedelta(days=300)),
            PartnerRecord(LAPSED, "Youth Offending Team", (a,), ("upn",),
                          today - timedelta(days=400), today - timedelta(days=1))])


def publish_with_partners(env: Env) -> tuple[str, dict[str, bytes]]:
    """A new run (``latest`` moves to it) with every school's file and both partners' files:
    a lapsed partner's file still in ``latest`` shows the download rule's own check."""
    files = [(f"{u}.xlsx", os.urandom(2048 + u % 89)) for u in SCHOOLS]
    files += [(f"partner-{p}.xlsx", os.urandom(3000 + len(p))) for p in (NURSES, LAPSED)]
    run_id = new_run_id()
    signing = Signing(env.key, None, {env.key.key_id: env.key.public_pem})  # type: ignore[arg-type]

    def manifest_for(written: dict[str, bytes], signing: Signing) -> bytes:
        schools = [manifest.entry_for(int(n[:-5]), "8881000", SCHOOLS[int(n[:-5])], n, data,
                                      [], 2) for n, data in written.items()
                   if not n.startswith("partner-")]
        partners = [{"partner_id": n[8:-5], "name": n[8:-5].title(), "file": n,
                     "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                     "children": 2, "members": [MEMBER] if n[8:-5] == NURSES else []}
                    for n, data in written.items()
                    if n.startswith("partner-")]
        return manifest.build(run_id=run_id, as_at=date(2026, 11, 22),
                              generated_at=datetime.now(UTC), source_rows={},
                              signing_key_id=env.key.key_id, entries=schools,
                              extra={"partners": partners})

    write_run(LocalStore(env.drop), run_id, files, manifest_for, signing)  # type: ignore[arg-type]
    return run_id, dict(files)


def add_partner_user(env: Env, email: str, partner_id: str) -> str:
    """A fully enrolled partner user (password and TOTP), as ``users add --partner`` then
    enrolment leave them; returns the TOTP secret."""
    secret = add_user(env, email, [])
    with ready(env.settings.portal.database_url).begin() as db:
        user = db.scalar(select(User).where(User.email == email))
        assert user is not None
        user.role = "partner"
        db.add(UserPartner(user_id=user.id, partner_id=partner_id, added_at=datetime.now(UTC)))
    return secret


def fill_partner(path: str, partner_id: str) -> str:
    return path.replace("{partner_id}", partner_id)
