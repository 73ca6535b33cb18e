"""``databook users``: a council officer adds, lists, resets and removes portal users.

``add`` prints the single-use enrolment link as its LAST line (send it to that person only);
each change is a ledger entry made in the same transaction as the change itself.
"""

from __future__ import annotations

import argparse
from typing import Any

from portal import accounts
from portal.accounts import AccountError
from portal.cli.signing import signs_on_exit
from portal.config import PortalConfigError, SettingsError, load
from portal.events import COMMAND_LINE
from portal.migrate import ready
from portal.partner_accounts import add_partner_user

ERRORS: tuple[type[Exception], ...] = (AccountError, SettingsError, PortalConfigError)


def register(sub: Any) -> None:
    users = sub.add_parser("users", help="the school portal's named users")
    cmds = users.add_subparsers(dest="users_command", required=True)
    add = cmds.add_parser("add", help="add a named user (or another school for one); prints "
                          "the enrolment link last")
    add.add_argument("--school", type=int, metavar="URN",
                     help="the school (required for dsl, deputy and head; refused for council, "
                     "which holds no school)")
    add.add_argument("--partner", metavar="ID",
                     help="a multi-agency partner's user (the partner must be on the register; "
                     "no --school, no --role)")
    add.add_argument("--name", required=True)
    add.add_argument("--email", required=True)
    add.add_argument("--role", choices=("dsl", "deputy", "head", "council"), default="dsl")
    add.set_defaults(handler=signs_on_exit(add_user))
    listing = cmds.add_parser("list", help="users, their state and schools")
    listing.add_argument("--school", type=int, metavar="URN")
    listing.set_defaults(handler=list_users)
    leave = cmds.add_parser("leave", help="disable a user at once: sessions ended, second "
                            "factors removed")
    leave.add_argument("email")
    leave.add_argument("--reason", required=True)
    leave.set_defaults(handler=signs_on_exit(leave_user))
    remove = cmds.add_parser("remove-school", help="take one school from a user (a DSL who "
                             "moves school); the others stay")
    remove.add_argument("email")
    remove.add_argument("--school", type=int, metavar="URN", required=True)
    remove.set_defaults(handler=signs_on_exit(remove_school))
    reset = cmds.add_parser("reset", help="a new link to set a new password (the second "
                            "factor is still asked for)")
    reset.add_argument("email")
    reset.set_defaults(handler=signs_on_exit(reset_user))


def _db() -> Any:
    settings = load()
    portal = settings.portal
    return portal, ready(portal.database_url, portal.state_dir)


def add_user(args: argparse.Namespace) -> int:
    if args.partner is not None:
        return _add_partner_user(args)
    portal, sessions = _db()
    with sessions.begin() as db:
        user, link = accounts.add_user(db, portal, urn=args.school, name=args.name,
                                       email=args.email, role=args.role, origin=COMMAND_LINE)
        schools = ", ".join(str(s.urn) for s in user.schools)
        email = user.email
    if args.role == "council":
        print(f"{email} is a council officer (no school: the council pages only)")
    else:
        print(f"{email} may collect for school(s) {schools}")
    if link is None:
        print("the user already had an account: no new link (use `databook users reset` if "
              "they need one)")
        return 0
    print(f"send this single-use link to {email} only; it works until {link.expires}:")
    print(link.url)
    return 0


def _add_partner_user(args: argparse.Namespace) -> int:
    if args.school is not None or args.role != "dsl":
        raise AccountError("a partner user is added with --partner ID alone (no --school, no "
                           "--role)")
    portal, sessions = _db()
    with sessions.begin() as db:
        user, link = add_partner_user(db, portal, partner_id=args.partner, name=args.name,
                                      email=args.email, origin=COMMAND_LINE)
        email = user.email
    assert link is not None  # always a new account
    print(f"{email} may collect for partner {args.partner}")
    print(f"send this single-use link to {email} only; it works until {link.expires}:")
    print(link.url)
    return 0


def list_users(args: argparse.Namespace) -> int:
    _, sessions = _db()
    with sessions() as db:
        rows = accounts.listing(db, args.school)
        print(f"{'email':40} {'role':8} {'state':8} schools")
        for user, urns in rows:
            print(f"{user.email:40} {user.role:8} {user.state:8} "
                  f"{' '.join(str(u) for u in urns) or '-'}")
    return 0


def leave_user(args: argparse.Namespace) -> int:
    _, sessions = _db()
    with sessions.begin() as db:
        user = accounts.leave(db, args.email, args.reason, COMMAND_LINE)
        email = user.email
    print(f"{email} has left: signed out everywhere, second factors removed, no school")
    return 0


def remove_school(args: argparse.Namespace) -> int:
    _portal, make = _db()
    with make.begin() as db:
        user = accounts.remove_school(db, accounts.normal_email(args.email), args.school,
                                      COMMAND_LINE)
        left = ", ".join(str(s.urn) for s in user.schools)
    print(f"{user.email} no longer holds school {args.school} (still: {left})")
    return 0


def reset_user(args: argparse.Namespace) -> int:
    portal, sessions = _db()
    with sessions.begin() as db:
        link = accounts.reset(db, args.email, portal, COMMAND_LINE)
    print(f"signed out everywhere; the link works until {link.expires} and the user must "
          "still confirm with a passkey or code they already hold:")
    print(link.url)
    return 0
