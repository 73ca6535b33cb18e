"""Every ``databook`` command that appends to the ledger signs its tail before it exits
(issue 19): a command's entries are never left outside a signed checkpoint for the portal's
tail signer to find later, or not at all when no portal runs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any


def signs_on_exit(handler: Callable[[Any], int]) -> Callable[[Any], int]:
    """``handler``, then a checkpoint over whatever it appended, whether it succeeded or not
    (a refusal it recorded is an entry too). Imports the ledger only when it runs."""
    def wrapped(args: Any) -> int:
        from portal.ledger.tail import sign_after_command

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
