"""``databook``: the command an MI officer (or a newcomer) types.

Progress goes to stderr; the one thing a script needs (the run folder, a password) is the last
line of stdout. Any failure is ONE line on stderr and a documented exit code: this module is
the one place that turns an exception into that line, so no group can leak a traceback, or an
exception's text, which may carry a value read from a child's record.

Each command group is a module in ``GROUPS`` with ``register(sub)`` (adds its parsers and sets
``handler``, a function of the parsed arguments returning an exit code) and ``ERRORS`` (the
exceptions whose ``str()`` is a safe one-line message). A group may also list
``BLOCKED_ERRORS`` (exit 3, "publishing blocked"). Groups are imported by name so a command's
heavy imports stay inside its handler and ``databook --help`` stays quick.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from flows.faults import location, safe_description

#: Group modules, in the order their commands appear in ``databook --help``.
GROUPS: list[str] = [
    "flows.cli.run",
    "flows.cli.keys",
    "flows.cli.manifest",
    "flows.cli.history",
    "flows.cli.alerts",
    "portal.cli.users",
    "portal.cli.portal",
    "portal.cli.schools",
    "portal.cli.partners",
    "portal.cli.audit",
]

# Exit codes, documented in README's command table.
OK, ERROR, USAGE, BLOCKED, INTERRUPTED = 0, 1, 2, 3, 130

#: Prefect's temporary API server migrates a new database on a cold PREFECT_HOME: ~30 s on a
#: 2-core machine against its 20 s default, so a first run on a fresh machine would time out.
STARTUP_TIMEOUT_S = "180"

log = logging.getLogger("databook")


def _groups() -> list[ModuleType]:
    return [importlib.import_module(name) for name in GROUPS]


def parser(groups: Sequence[ModuleType] | None = None) -> argparse.ArgumentParser:
    """The whole command line, assembled from every group."""
    p = argparse.ArgumentParser(
        prog="databook", description="Safeguarding databooks: the nightly run, keys and checks.")
    sub = p.add_subparsers(dest="command", required=True)
    for group in groups if groups is not None else _groups():
        group.register(sub)
    return p


def prepare_environment() -> None:
    """Settings Prefect reads once, at import: set here, before any handler imports it,
    unless the user chose otherwise."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", STARTUP_TIMEOUT_S)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def _configure_logging() -> None:
    """Progress on stderr, one line per message and never a traceback: details of a failure go
    to the run's own log file (see flows.runlog), not the terminal."""
    from flows.runlog import detach_run_log, terminal_handler

    detach_run_log()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(terminal_handler())
    for noisy in ("httpx", "httpcore", "uvicorn", "docket", "fakeredis"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    groups = _groups()
    args = parser(groups).parse_args(argv)  # exits 2 with argparse's usage message
    prepare_environment()
    _configure_logging()
    errors = tuple(e for g in groups for e in getattr(g, "ERRORS", ()))
    blocked = tuple(e for g in groups for e in getattr(g, "BLOCKED_ERRORS", ()))
    try:
        code: int = args.handler(args)
        return code
    except blocked as exc:
        print(f"databook: {_one_line(exc)}", file=sys.stderr)
        return BLOCKED
    except errors as exc:
        print(f"databook: error: {_one_line(exc)}", file=sys.stderr)
        return ERROR
    except KeyboardInterrupt:
        print("databook: interrupted; nothing was published by this run", file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:  # a fault in databook itself: say where, never what it said
        print(f"databook: error: {_unexpected(exc)}", file=sys.stderr)
        return ERROR


def _unexpected(exc: Exception) -> str:
    """The line for a fault in databook itself: type and place only. When a run log is
    attached, its type and frames (never its text) go there first, and the line says so."""
    from flows.runlog import attached_run_log

    where = attached_run_log()
    if where is not None:  # ERROR: kept by the run log, never shown on the terminal
        log.error("the command failed: %s", safe_description(exc))
    details = f"details in {where}; " if where is not None else ""
    return (f"unexpected {type(exc).__name__} at {location(exc)} ({details}a fault in "
            "databook, not in your input; please report it)")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
