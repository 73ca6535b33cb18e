"""``databook``: the command an MI officer, an IG officer (or a newcomer) types, on either host.

Progress goes to stderr; the one thing a script needs (the run folder, a password) is the last
line of stdout. Any failure is ONE line on stderr and a documented exit code: this module is
the one place that turns an exception into that line, so no group can leak a traceback, or an
exception's text, which may carry a value read from a child's record.

Each command group is a module with ``register(sub)`` (adds its parsers and sets ``handler``, a
function of the parsed arguments returning an exit code) and ``ERRORS`` (the exceptions whose
``str()`` is a safe one-line message); it may also list ``BLOCKED_ERRORS`` (exit 3,
"publishing blocked"). ``COMMANDS`` names each command's group and its one-line help, so only
the group of the command typed is imported: ``databook --help`` imports no pandas, Prefect or
Great Expectations, and on the portal host (installed without them) a nightly command says in
one line which install it needs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from databook.faults import location, safe_description
from databook.runlog import attached_run_log, detach_run_log, terminal_handler
from databook.settings import SettingsError

NIGHTLY, PORTAL = "nightly", "portal"
#: Every command: its group module, the host (install extra) it needs, and its help line, in
#: the order of ``databook --help``.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("flows.cli.run", NIGHTLY, "run the nightly flow once"),
    "demo-data": ("flows.cli.run", NIGHTLY, "write the synthetic demo databases"),
    "demo": ("flows.cli.run", NIGHTLY, "write the demo databases, then run"),
    "keys": ("flows.cli.keys", NIGHTLY, "school passwords and the master key"),
    "manifest": ("flows.cli.manifest", NIGHTLY, "check a published run"),
    "runs": ("flows.cli.history", NIGHTLY, "list recent runs"),
    "report": ("flows.cli.history", NIGHTLY, "print where a run's data-quality report is"),
    "alerts": ("flows.cli.alerts", NIGHTLY, "alerts that need the Prefect server"),
    "findings": ("flows.cli.findings", NIGHTLY,
                 "the data-quality worklist, accepted findings, weekly summary"),
    "push": ("flows.cli.push", NIGHTLY, "push published runs to the portal host's drop"),
    "witness": ("flows.cli.witness", NIGHTLY, "the ledger witness: trust the portal's key, "
                "co-sign"),
    "users": ("portal.cli.users", PORTAL, "the school portal's named users"),
    "portal": ("portal.cli.portal", PORTAL, "the school portal"),
    "schools": ("portal.cli.schools", PORTAL,
                "the register of schools' protocols and agreements"),
    "partners": ("portal.cli.partners", PORTAL,
                 "the register of multi-agency partners"),
    "audit": ("portal.cli.audit", PORTAL, "the download ledger: verify, receipts, reports"),
    "backup": ("databook.backup_cli", PORTAL, "write this host's backup archive"),
    "restore": ("databook.backup_cli", PORTAL, "restore this host from a backup archive"),
}

#: A sub-command kept on the other host than its command's group: ``audit reveals`` reads the
#: nightly host's record of password reveals, where the rest of ``audit`` is the portal's.
SUBCOMMANDS: dict[tuple[str, str], tuple[str, str]] = {
    ("audit", "reveals"): ("flows.cli.reveals", NIGHTLY)}
# Exit codes, documented in README's command table.
OK, ERROR, USAGE, BLOCKED, INTERRUPTED = 0, 1, 2, 3, 130
#: The reader of stdout closed the pipe (128 + SIGPIPE, as a shell reports it).
PIPE_CLOSED = 141

#: Prefect's temporary API server migrates a new database on a cold PREFECT_HOME: ~30 s on a
#: 2-core machine against its 20 s default, so a first run on a fresh machine would time out.
STARTUP_TIMEOUT_S = "180"

log = logging.getLogger("databook")


class MissingInstall(Exception):
    """The command's group needs a library this host was installed without."""


def typed_command(argv: Sequence[str]) -> str | None:
    """The command word: the first argument that is not an option."""
    return next((a for a in argv if not a.startswith("-")), None)


def load_groups(argv: Sequence[str]) -> list[ModuleType]:
    """The group of the command typed (none for ``--help`` or an unknown word)."""
    name = typed_command(argv)
    if name not in COMMANDS:
        return []
    module, host, _ = COMMANDS[name]
    words = [a for a in argv if not a.startswith("-")]
    if tuple(words[:2]) in SUBCOMMANDS:
        module, host = SUBCOMMANDS[(words[0], words[1])]
    try:
        return [importlib.import_module(module)]
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in ("flows", "portal", "databook"):
            raise
        raise MissingInstall(f"`databook {name}` runs on the {host} host; this installation "
                             f"has no {exc.name} (install it with pip install "
                             f"'.[{host}]' -c constraints.txt)") from None


def parser(groups: Sequence[ModuleType] = ()) -> argparse.ArgumentParser:
    """The command line: the loaded groups' own parsers, and every other command by name and
    help line only (its group is not imported)."""
    p = argparse.ArgumentParser(
        prog="databook", description="Safeguarding databooks: the nightly run, keys and checks.")
    p.add_argument("--version", action="version", version=f"databook {version()}")
    sub = p.add_subparsers(dest="command", required=True)
    for group in groups:
        group.register(sub)
    for name, (_, _, line) in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=line, add_help=False)
    return p


def version() -> str:
    """The installed version (``pyproject.toml``; CHANGELOG.md says what each one changed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("safeguarding-databook")
    except PackageNotFoundError:
        return "unknown"


def prepare_environment() -> None:
    """Settings Prefect reads once, at import: set here, before any handler imports it,
    unless the user chose otherwise."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", STARTUP_TIMEOUT_S)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def _configure_logging() -> None:
    """Progress on stderr, one line per message and never a traceback: details of a failure go
    to the run's own log file (see databook.runlog), not the terminal."""
    detach_run_log()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(terminal_handler())
    for noisy in ("httpx", "httpcore", "uvicorn", "docket", "fakeredis"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        groups = load_groups(words)
    except MissingInstall as exc:
        print(f"databook: error: {exc}", file=sys.stderr)
        return ERROR
    args = parser(groups).parse_args(words)  # exits 2 with argparse's usage message
    prepare_environment()
    _configure_logging()
    errors = (SettingsError, *(e for g in groups for e in getattr(g, "ERRORS", ())))
    blocked = tuple(e for g in groups for e in getattr(g, "BLOCKED_ERRORS", ()))
    try:
        code: int = args.handler(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        # The reader stopped early (`databook audit export | head`): its choice, not a fault.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return PIPE_CLOSED
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
    where = attached_run_log()
    if where is not None:  # ERROR: kept by the run log, never shown on the terminal
        log.error("the command failed: %s", safe_description(exc))
    details = f"details in {where}; " if where is not None else ""
    return (f"unexpected {type(exc).__name__} at {location(exc)} ({details}a fault in "
            "databook, not in your input; please report it)")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
