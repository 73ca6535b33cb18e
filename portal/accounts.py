"""Account administration: what a council officer does (from the command line now, from the
council pages later). Each function works in the caller's transaction and records its
ledger entry there, so an account change and its record commit together or not at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from databook.portal_table import PortalTable
from portal.events import Origin, record
from portal.models import ROLES, Credential, EnrolmentToken, User, UserSchool
from portal.security import sessions
from portal.security.tokens import digest, new_token

EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class AccountError(ValueError):
    """A request about an account cannot be done; the message is one safe line."""


@dataclass(frozen=True)
class Link:
    url: str
    expires: str


def normal_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not EMAIL.match(email):
        raise AccountError("the email address is not valid")
    return email


def check_named(email: str, settings: PortalTable) -> None:
    """The access protocol: named work addresses only; a role mailbox is read by several
    people, so a link sent there is not a link sent to one named person."""
    local = email.split("@", 1)[0]
    base = local.split("+", 1)[0]  # info+dsl@: plus-addressing of the same mailbox
    forms = {local, base, base.rstrip("0123456789"), re.sub(r"[._-]", "", base),
             re.sub(r"[._-]", "", base).rstrip("0123456789")}
    if forms & set(settings.shared_mailboxes):
        raise AccountError(f"{local}@ is a shared mailbox; use the person's own work address")


def find_user(db: Session, email: str) -> User:
    user = db.scalar(select(User).where(User.email == normal_email(email)))
    if user is None:
        raise AccountError("there is no portal user with that email address")
    return user


def issue_link(db: Session, user: User, settings: PortalTable, purpose: str) -> Link:
    """A new single-use link; any earlier unused link for the user stops working."""
    db.execute(delete(EnrolmentToken).where(EnrolmentToken.user_id == user.id,
                                            EnrolmentToken.used_at.is_(None)))
    token = new_token()
    moment = sessions.now()
    expires = moment + timedelta(hours=settings.enrolment_hours)
    db.add(EnrolmentToken(token_hash=digest(token), user_id=user.id, purpose=purpose,
                          created_at=moment, expires_at=expires))
    db.flush()
    return Link(f"{settings.base_url}/enrol/{token}", expires.strftime("%Y-%m-%d %H:%M UTC"))


def check_school_for_role(role: str, urn: int | None) -> None:
    """Least access: a DSL or deputy holds a school; a council officer holds none, so no
    school rule can ever let an officer through to a school's page or file."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if role == "partner":
        raise AccountError("a partner user holds no school; add them with --partner ID")
    if role == "council" and urn is not None:
        raise AccountError("a council officer holds no school; add them without --school")
    if role != "council" and urn is None:
        raise AccountError(f"a {role} user needs --school URN")
    if urn is not None and not 1 <= urn <= 99_999_999:
        raise AccountError("the URN must be a whole number")


def add_user(db: Session, settings: PortalTable, *, urn: int | None, name: str, email: str,
             role: str, origin: Origin) -> tuple[User, Link | None]:
    """A new named account with its enrolment link, or one more school for an existing DSL
    (no new link then: the person already has, or is setting up, their sign-in). A council
    officer (``urn`` None) holds no school; an existing account keeps its role, so adding a
    school can never reach a council account, nor a DSL become an officer (a DSL added again
as deputy, or the reverse, keeps the role it has)."""
    check_school_for_role(role, urn)
    email = normal_email(email)
    check_named(email, settings)
    name = " ".join(name.split())
    if not 1 <= len(name) <= 200:
        raise AccountError("the name must be 1 to 200 characters")
    user = db.scalar(select(User).where(User.email == email))
    moment = sessions.now()
    link = None
    if user is None:
        user = User(email=email, name=name, role=role, state="invited", created_at=moment)
        db.add(user)
        db.flush()
        link = issue_link(db, user, settings, "enrol")
    elif user.state == "left":
        raise AccountError("that user has left; add them under a new address or ask for a "
                           "council officer to review")
    elif user.role == "partner":
        raise AccountError("that user is a partner's user; a partner user never holds a "
                           "school")
    elif (user.role == "council") != (role == "council"):
        raise AccountError(f"that user already has an account as {user.role}; adding does "
                           "not move an account between the council and a school")
    elif urn is None:
        raise AccountError("that council officer already has an account")
    if urn is not None:
        if any(s.urn == urn for s in user.schools):
            raise AccountError(f"that user already holds school {urn}")
        user.schools.append(UserSchool(urn=urn, added_at=moment))
    db.flush()
    record(db, "user_added", origin, target_id=user.id, target_email=email, urn=urn, role=role)
    return user, link


def leave(db: Session, email: str, reason: str, origin: Origin) -> User:
    """Disable at once: sessions ended, second factors and links removed, schools dropped.
    The password hash is kept: sign-in still refuses the account before any session exists,
    but can then tell a leaver who types the RIGHT password that their access has ended,
    instead of calling a right password wrong (``authn.AccessEnded``). No path lets the hash
    in again: the links are expired here and ``reset`` and ``add_user`` refuse a leaver."""
    reason = " ".join(reason.split())
    if not 1 <= len(reason) <= 500:
        raise AccountError("give a reason of 1 to 500 characters")
    user = find_user(db, email)
    if user.state == "left":
        raise AccountError("that user has already left")
    user.state, user.left_at = "left", sessions.now()
    sessions.end_all(db, user.id)
    db.execute(delete(Credential).where(Credential.user_id == user.id))
    # The links are kept, expired, so a leaver's link is recorded as ``left``.
    db.execute(update(EnrolmentToken).where(EnrolmentToken.user_id == user.id)
               .values(expires_at=sessions.now()))
    user.schools.clear()
    from portal.registers.partners import UserPartner  # a partner user's partner goes too

    db.execute(delete(UserPartner).where(UserPartner.user_id == user.id))
    db.flush()
    record(db, "user_left", origin, target_id=user.id, target_email=user.email,
           reason_text=reason)
    return user


def remove_school(db: Session, email: str, urn: int, origin: Origin) -> User:
    """Take one school from a user (a DSL who moves school keeps the others). Access is read
    from ``user_schools`` at every request, so the school is gone from the next one. The last
    school is not removed this way: a user with no school is a leaver (``leave``)."""
    user = find_user(db, email)
    held = [s for s in user.schools if s.urn == urn]
    if not held:
        raise AccountError(f"that user does not hold school {urn}")
    if len(user.schools) == 1:
        raise AccountError(f"school {urn} is that user's only school: use `databook users "
                           "leave` for someone who no longer works for any school")
    user.schools.remove(held[0])
    db.flush()
    record(db, "council_action", origin, action="school_removed", target=user.email, urn=urn)
    return user


def reset(db: Session, email: str, settings: PortalTable, origin: Origin) -> Link:
    """A new link to set a new password. The second factor stays: after the new password the
    person must still prove a passkey or code they already hold (never bypassed)."""
    user = find_user(db, email)
    if user.state == "left":
        raise AccountError("that user has left; a leaver cannot be reset")
    sessions.end_all(db, user.id)
    link = issue_link(db, user, settings, "reset")
    record(db, "user_reset", origin, target_id=user.id, target_email=user.email)
    return link


def listing(db: Session, urn: int | None = None) -> list[tuple[User, list[int]]]:
    """Users and their schools; the schools come in one more query (``selectinload``), not
    one per user, so the council's user page stays two queries at any county's size."""
    query = select(User).options(selectinload(User.schools)).order_by(User.email)
    if urn is not None:
        query = query.where(User.id.in_(select(UserSchool.user_id).where(UserSchool.urn == urn)))
    return [(u, [s.urn for s in u.schools]) for u in db.scalars(query)]


def has_factor(db: Session, user_id: int) -> bool:
    return db.scalar(select(Credential.id).where(Credential.user_id == user_id).limit(1)) \
        is not None
