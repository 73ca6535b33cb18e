"""``databook push``: send the published runs the portal host lacks to its drop (the nightly
run does this after each publish when ``DATABOOK_PUSH_DROP`` is set)."""

from __future__ import annotations

import argparse

from databook.drop import ManifestError
from flows.delivery import push_now
from flows.settings import SettingsError, load
from publish.errors import KeystoreError, PublishError

ERRORS: tuple[type[Exception], ...] = (KeystoreError, PublishError, ManifestError,
                                       SettingsError)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("push", help="push published runs to the portal host's drop")
    p.set_defaults(handler=handle)


def handle(_args: argparse.Namespace) -> int:
    done = push_now(load())
    if done is None:
        raise SettingsError("no portal host to push to: set DATABOOK_PUSH_DROP to its drop "
                            "(sftp://user@portal-host/path)")
    print(done.summary())
    return 1 if done.refused else 0
