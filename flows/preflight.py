"""Everything a run needs, checked before the flow starts and before any real work: a bad
setting, a wrong master key or a drop that cannot be written is one line within a second, not
a traceback after half a minute of extracting and validating.
"""

from __future__ import annotations

import http.client
import logging
import math
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from databook.fsio import make_private_dir
from extract import SourceError
from extract.read import check_sources as check
from flows.settings import NightlySettings, SettingsError, parse_as_at, today_in_london
from publish.keystore import KEYSTORE_FILE, MASTER_KEY_FILE, Keystore

log = logging.getLogger("databook.preflight")


@dataclass(frozen=True)
class RunPlan:
    """What the checks settled: the run's date and its options for the flow."""
    as_at: date
    accept_drift: str | None
    drift_tolerance: float | None
    task_runner_kind: str
    dask_address: str | None
    #: Publish only the schools whose rows changed, as an amendment of the latest run.
    changed_only: bool = False


def make_private_tree(path: Path) -> Path:
    """``databook.fsio.make_private_dir`` (new folders 0700 with their parents, an existing
    folder's mode left alone: one rule for every folder the product makes), with its failure
    as one line for the command: the path and the system's reason, nothing else."""
    try:
        return make_private_dir(path)
    except OSError as exc:
        blocker = next((p for p in (path, *path.parents) if p.exists()), path)
        why = (f"{blocker} is a file" if blocker.exists() and not blocker.is_dir()
               else exc.strerror or type(exc).__name__)
        raise SettingsError(f"cannot create the folder {path}: {why}") from None


def check_as_at(text: str | None) -> date:
    as_at = parse_as_at(text)
    today = today_in_london()
    if as_at > today:
        raise SettingsError(f"--as-at {as_at.isoformat()} is in the future (today is "
                            f"{today.isoformat()} in London)")
    return as_at


def check_tolerance(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and 0 <= value <= 1):
        raise SettingsError(f"--drift-tolerance must be a fraction from 0 to 1, like 0.2, "
                            f"not {value}")
    return value


def check_local_drop(drop: Path) -> None:
    """The drop must be a folder we can write, or creatable; it is never created here (the
    run creates it private when it publishes) and an existing one's mode is left alone."""
    probe = drop
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise SettingsError(f"the drop {drop} cannot be used: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SettingsError(f"the drop {drop} cannot be written: {probe} is not writable by "
                            "this user")


def check_drop(settings: NightlySettings) -> None:
    if settings.drop.startswith("sftp://"):
        settings.open_drop().close()  # connects and checks the host key; its errors are lines
    else:
        check_local_drop(Path(settings.drop))


def check_master_key(settings: NightlySettings) -> None:
    """Opening the keystore proves the master key: a wrong or missing key stops here. With no
    keystore and no key yet there is nothing to check, and nothing is written: a first run on
    SQLite files (the demo) makes the demo key once everything else has passed; a first run
    against a database server refuses to invent one."""
    home = settings.home
    if settings.master_key or (home / KEYSTORE_FILE).exists() or \
            (home / MASTER_KEY_FILE).exists():
        Keystore.open(home, settings.master_key)
    elif not settings.source_url.startswith("sqlite"):
        # A council's own database: the key that guards every school's password is the
        # council's to make and keep, never a file this run leaves beside the keystore.
        raise SettingsError("no master key: a run against a database server needs "
                            "DATABOOK_MASTER_KEY; make one with `databook keys new-master` and "
                            "keep it in your secret store")


def check_prefect_server() -> None:
    """A configured Prefect server (``PREFECT_API_URL``, or a Prefect profile's) that does not
    answer stops the run here in one line, not in Prefect's start with a traceback. Only a
    refused connection, an unknown host or silence is an error: any HTTP answer (Prefect
    Cloud's needs a key), or a TLS certificate this check cannot verify, is left to Prefect's
    own client."""
    url = os.environ.get("PREFECT_API_URL")
    if url is None:
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value()
    if not url:
        return
    parts = urllib.parse.urlsplit(url.rstrip("/"))
    bare = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no user:password
    silent = f"the Prefect server at {bare} (PREFECT_API_URL) does not answer"
    fix = "start it (make prefect-server) or unset PREFECT_API_URL for a temporary one"
    try:
        urllib.request.urlopen(f"{bare}/health", timeout=10).close()
    except urllib.error.HTTPError:
        return  # an HTTP answer (Prefect Cloud's needs a key)
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError | socket.gaierror | TimeoutError):
            raise SettingsError(f"{silent} ({exc.reason}): {fix}") from None
        # A certificate only Prefect's client is told to trust, say: Prefect has the last word.
    except (ConnectionRefusedError, TimeoutError):
        raise SettingsError(f"{silent}: {fix}") from None
    except (OSError, ValueError, http.client.HTTPException):
        return  # something answered, oddly: Prefect's client has the last word


def check_sources(settings: NightlySettings) -> None:
    try:
        check(settings.source_url, settings.roll_url)
    except SourceError as exc:
        if not exc.transient:
            raise
        log.warning("%s; the run will retry it", exc)


def prepare_home(settings: NightlySettings) -> Path:
    """The state folder and Prefect's home under it, created with their parents, private."""
    make_private_tree(settings.runs_dir)
    prefect_home = Path(os.environ.setdefault("PREFECT_HOME", str(settings.home / "prefect")))
    make_private_tree(prefect_home.expanduser())
    return settings.home


def plan(settings: NightlySettings, as_at: str | None, accept_drift: str | None,
         drift_tolerance: float | None, task_runner_kind: str,
         dask_address: str | None) -> RunPlan:
    """Check everything, cheapest first; raise the first problem as a one-line error."""
    checked = RunPlan(check_as_at(as_at), accept_drift, check_tolerance(drift_tolerance),
                      task_runner_kind, dask_address)
    if task_runner_kind == "dask" and not dask_address:
        raise SettingsError("--task-runner dask needs --dask-address tcp://HOST:PORT")
    prepare_home(settings)
    check_drop(settings)
    check_master_key(settings)
    check_prefect_server()
    check_sources(settings)
    return checked
