"""``databook portal``: run the school portal, trust the council's manifest key, set up the
demo.

``serve`` migrates the database first, then runs uvicorn (behind the council's TLS proxy in
production: ``trusted_proxies`` names it, so client addresses in the ledger are real).
``trust-key`` copies a PEM public key into the portal's state folder: the only keys a
download is verified against (never a key found in the drop).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from databook.drop import MANIFEST, ManifestError, key_id_of, latest, parse
from databook.fsio import private_dir
from databook.settings import DEMO_MARK
from portal.accounts import AccountError
from portal.cli.signing import signs_on_exit
from portal.config import PortalConfigError, PortalHostSettings, PortalTable, SettingsError, load
from portal.demo import make_demo_officer, make_demo_users
from portal.migrate import upgrade

ERRORS: tuple[type[Exception], ...] = (SettingsError, PortalConfigError, ManifestError,
                                       AccountError)
DEMO_PASSWORD = "demo databook portal only"
DEMO_USERS = (("Dana Demo", "dana.demo@school-one.example", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"),
              ("Sam Sample", "sam.sample@school-two.example", "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"))
#: The council's side of the demo: an officer with no school, who signs in to /council.
DEMO_OFFICER = ("Olu Officer", "olu.officer@council.example", "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U")


def register(sub: Any) -> None:
    portal = sub.add_parser("portal", help="the school portal")
    cmds = portal.add_subparsers(dest="portal_command", required=True)
    serve = cmds.add_parser("serve", help="migrate the database, then serve the portal")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=serve_portal)
    trust = cmds.add_parser("trust-key", help="trust a manifest signing public key (PEM)")
    trust.add_argument("file", type=Path)
    trust.set_defaults(handler=trust_key)
    demo = cmds.add_parser("demo", help="two demo DSLs at two schools and a council "
                          "officer, the demo key trusted")
    demo.add_argument("--check", action="store_true",
                      help="only say (exit 0/1) whether the drop has a published run")
    demo.set_defaults(handler=signs_on_exit(demo_portal))


def _portal() -> tuple[PortalHostSettings, PortalTable]:
    settings = load()
    return settings, settings.portal


def serve_portal(args: argparse.Namespace) -> int:
    import uvicorn


    if not 1 <= args.workers <= 64 or not 1 <= args.port <= 65535:
        raise PortalConfigError("--workers must be 1 to 64 and --port 1 to 65535")
    _, portal = _portal()
    upgrade(portal.database_url)
    print(f"the portal is at {portal.base_url} (listening on {args.host}:{args.port})",
          flush=True)
    proxies = ",".join(portal.trusted_proxies) or "127.0.0.1"
    uvicorn.run("portal.asgi:app", factory=True, host=args.host, port=args.port,
                workers=args.workers, proxy_headers=bool(portal.trusted_proxies),
                forwarded_allow_ips=proxies, server_header=False, log_level="warning")
    return 0


def install_key(pem: str, folder: Path) -> str:
    """Write a trusted key as ``<key id>.pem`` (0600) in the portal's state folder."""
    key_id = key_id_of(pem)
    private_dir(folder)
    target = folder / f"{key_id}.pem"
    temp = folder / f".{key_id}.{os.getpid()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(pem)
    os.replace(temp, target)
    return key_id


def trust_key(args: argparse.Namespace) -> int:
    _, portal = _portal()
    try:
        pem = args.file.read_text("ascii")
    except (OSError, UnicodeDecodeError):
        raise PortalConfigError(f"cannot read a PEM public key from {args.file}") from None
    try:
        key_id = install_key(pem, portal.trusted_keys_dir)
    except ValueError:
        raise PortalConfigError(f"{args.file} is not a PEM public key") from None
    print(f"the portal now trusts manifest key {key_id}")
    return 0


def demo_portal(args: argparse.Namespace) -> int:
    from publish.keystore import Keystore  # the demo runs where the nightly side is

    settings, portal = _portal()
    store = settings.open_drop()
    try:
        run_id = latest(store) if store.is_dir("") else None
        if args.check:
            return 0 if run_id else 1
        if not (Path(settings.home) / DEMO_MARK).is_file():
            raise PortalConfigError(
                f"{settings.home} was not made by `databook demo` (it has no {DEMO_MARK} "
                "file): `databook portal demo` sets printed passwords and signed protocols, "
                "so it runs only on a demo home")
        if run_id is None:
            raise PortalConfigError("the drop has no published run yet: run `databook demo`")
        schools = parse(store.read(f"{run_id}/{MANIFEST}"))["schools"][:2]
    finally:
        store.close()
    keystore = Keystore.open(settings.home, settings.master_key)
    for pem in keystore.public_keys().values():
        install_key(pem, portal.trusted_keys_dir)
    made = make_demo_users(portal, [(int(s["urn"]), str(s["name"])) for s in schools],
                           DEMO_USERS, DEMO_PASSWORD)
    made.append(make_demo_officer(portal, DEMO_OFFICER, DEMO_PASSWORD))
    print(f"\nThe demo portal: {portal.base_url}   (the demo's signing key is trusted)\n")
    for line in made:
        print(line)
    print(f"\nEvery demo user's password: {DEMO_PASSWORD}")
    print("Second step: type the current code from an authenticator app given the secret "
          "above, or in a shell:\n  .venv/bin/python -c \"import pyotp; "
          "print(pyotp.TOTP('SECRET').now())\"")
    print("The workbook's own password: .venv/bin/databook keys reveal URN")
    return 0

