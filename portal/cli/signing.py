"""Every ``databook`` command that appends to the ledger signs its tail before it exits
: a command's entries are never left outside a signed checkpoint for the portal's
tail signer to find later, or not at all when no portal runs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from databook.ledger.config import from_settings
from databook.ledger.tail import sign_tail, uncovered
from portal.config import load
from portal.migrate import ready


def signs_on_exit(handler: Callable[[Any], int]) -> Callable[[Any], int]:
    """``handler``, then a checkpoint over whatever it appended, whether it succeeded or not
    (a refusal it recorded is an entry too). Imports the ledger only when it runs."""
    def wrapped(args: Any) -> int:
        try:
            code = handler(args)
        except BaseException:
            with contextlib.suppress(Exception):  # the command's own error is the one to show
                sign_after_command()
            raise
        sign_after_command()
        return code

    wrapped.__name__ = getattr(handler, "__name__", "handler")
    wrapped.__doc__ = handler.__doc__
    return wrapped


def sign_after_command() -> None:
    """``databook`` commands that append: sign the tail of the configured portal database."""
    config = from_settings(load())
    with ready(config.database_url, config.state_dir).begin() as db:
        if uncovered(db):
            sign_tail(db, config)
