"""``databook keys``: school passwords, the signing key and the master key."""

from __future__ import annotations

import argparse
import logging

from cryptography.fernet import Fernet

from databook.drop import ManifestError
from flows.run_lock import run_lock
from flows.settings import NightlySettings, SettingsError, load
from publish.errors import KeystoreError, PublishError
from publish.keystore import KEYSTORE_FILE, Keystore
from publish.rotate import rotate_partner, rotate_school, rotate_signing

ERRORS: tuple[type[Exception], ...] = (KeystoreError, PublishError, ManifestError,
                                       SettingsError)
log = logging.getLogger("databook")


def register(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser("keys", help="school passwords and the master key")
    key_sub = keys.add_subparsers(dest="keys_command", required=True)
    reveal = key_sub.add_parser("reveal", help="print a school's (or a partner's) password "
                                "(last line)")
    reveal.add_argument("urn", type=int, nargs="?")
    reveal.add_argument("--partner", metavar="ID", help="a partner's password instead")
    key_sub.add_parser("new-master", help="print a new master key for DATABOOK_MASTER_KEY")
    key_sub.add_parser("public", help="print the manifest signing key (PEM)")
    rotate = key_sub.add_parser("rotate", help="rotate a school's password or the signing key")
    which = rotate.add_mutually_exclusive_group(required=True)
    which.add_argument("--school", type=int, metavar="URN")
    which.add_argument("--signing", action="store_true")
    which.add_argument("--partner", metavar="ID")
    which.add_argument("--master", action="store_true",
                       help="re-encrypt the keystore under a new master key (given in "
                            "DATABOOK_NEW_MASTER_KEY, else made and printed)")
    keys.set_defaults(handler=handle)


def existing_keystore(settings: NightlySettings) -> None:
    """Reading keys from a home that has none must not create a master key or a keystore: an
    officer who mistyped DATABOOK_HOME would otherwise leave a stray key behind."""
    if not (settings.home / KEYSTORE_FILE).is_file():
        raise SettingsError(f"there is no keystore in {settings.home} yet (check DATABOOK_HOME; "
                            "the first run that publishes creates it)")


def handle(args: argparse.Namespace) -> int:
    if args.keys_command == "new-master":
        print(Fernet.generate_key().decode())
        return 0
    settings = load()
    if args.keys_command in ("reveal", "public"):
        existing_keystore(settings)
    if args.keys_command == "rotate" and args.master:
        print(rotate_master(settings))
        return 0
    keystore = Keystore.open(settings.home, settings.master_key)
    if args.keys_command == "reveal":
        if (args.urn is None) == (args.partner is None):
            raise SettingsError("keys reveal needs a school's URN or --partner ID (one of them)")
        print(reveal(settings, keystore, args.urn, args.partner))
    elif args.keys_command == "public":
        print(keystore.signing_key().public_pem, end="")
    elif args.school is not None:
        store = settings.open_drop()
        try:
            with run_lock(settings.home, f"keys rotate --school {args.school}"):
                run_id = rotate_school(store, keystore, args.school, settings.keep_runs)
        finally:
            store.close()
        log.info("school %s has a new password; run %s re-publishes its file under it (older "
                 "runs keep the old password until retention deletes them)", args.school, run_id)
        print(run_id)
    elif args.partner is not None:
        store = settings.open_drop()
        try:
            with run_lock(settings.home, f"keys rotate --partner {args.partner}"):
                run_id = rotate_partner(store, keystore, args.partner, settings.keep_runs)
        finally:
            store.close()
        log.info("partner %s has a new password; run %s re-publishes its file under it",
                 args.partner, run_id)
        print(run_id)
    else:
        store = settings.open_drop()
        try:
            print(rotate_signing(store, keystore))
        finally:
            store.close()
    if args.keys_command == "rotate" and settings.push_drop:
        # The portal host gets the new key's endorsement (or the re-keyed run) at once.
        from flows.delivery import push_now

        done = push_now(settings)
        log.info("%s", done.summary() if done else "")
    return 0


def reveal(settings: NightlySettings, keystore: Keystore, urn: int | None,
           partner: str | None) -> str:
    """The password, once its reveal is on record (``databook.reveals``) and sent to the alert
    channels as a notice; an unknown school or partner is an error, and nothing is recorded."""
    from databook import alerts
    from databook.reveals import record_reveal

    if partner is not None:
        password = keystore.partner_password(partner)
    elif urn is not None:
        password = keystore.password(urn)
    try:
        entry = record_reveal(settings.home, urn=urn, partner=partner)
    except OSError as exc:
        raise SettingsError(f"cannot record the reveal in {settings.home} "
                            f"({exc.strerror or type(exc).__name__}); the password was not "
                            "shown") from None
    which = f"school {urn}" if partner is None else f"partner {partner}"
    sent = alerts.send_event(settings, f"keys reveal of {which}", "revealed",
                             f"{entry['os_user']} on {entry['host']} revealed the password of "
                             f"{which} at {entry['at']}", "databook audit reveals")
    log.info("the reveal is recorded (databook audit reveals)%s",
             f" and sent to {', '.join(sent)}" if sent else "")
    return password


def rotate_master(settings: NightlySettings) -> str:
    """Re-encrypt the keystore under a new master key; prints where the new key must go."""
    import os

    from publish.master_key import rotate

    existing_keystore(settings)
    given = os.environ.get("DATABOOK_NEW_MASTER_KEY")
    new_key = rotate(settings.home, settings.master_key, given)
    if settings.master_key:
        log.info("the keystore is now encrypted under the new master key: set "
                 "DATABOOK_MASTER_KEY to it on this host (and in its secret store) now")
    else:
        log.info("the keystore and %s now hold the new master key", settings.home)
    from publish.keystore import fingerprint

    return f"master key rotated: the keystore now opens with key {fingerprint(new_key)}"
