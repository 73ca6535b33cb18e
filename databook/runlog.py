"""Where a run's log lines go: progress on the terminal, everything else in the run's log file.

The terminal shows the INFO and WARNING lines this project's own code writes (what a run is
doing) and nothing else: Prefect's engine lines and tracebacks, library warnings and errors go
to ``$DATABOOK_HOME/runs/<run-id>/run.log``, so a failure ends in the command's one clear line.
The log file keeps tracebacks as code locations only (file, line, function): an exception's
text can carry a value from a child's record, and the run record must never hold one.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from types import TracebackType

from databook.faults import in_project, safe_description

RUN_LOG = "run.log"
TIME_FORMAT = "%H:%M:%S"
_TAG = "_databook_handler"


class ProgressOnly(logging.Filter):
    """Progress lines for the terminal: this project's INFO/WARNING lines, no tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        return (logging.INFO <= record.levelno < logging.ERROR and not record.exc_info
                and in_project(record.pathname))


class LocationsOnly(logging.Formatter):
    """A formatter whose tracebacks carry the exception's type and frames, never its text."""

    def formatException(self, ei: tuple[type[BaseException], BaseException, TracebackType | None]
                        | tuple[None, None, None]) -> str:
        exc = ei[1]
        return "(no exception)" if exc is None else safe_description(exc)

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None  # never reuse a traceback another handler rendered in full
        return super().format(record)


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time, so a handler made for one command
    (in a test, one of many in a process) never writes to a stream since closed."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def _tagged(handler: logging.Handler, kind: str) -> logging.Handler:
    setattr(handler, _TAG, kind)
    return handler


def _remove(kind: str) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _TAG, None) == kind or type(handler).__name__ == \
                "PrefectConsoleHandler":
            root.removeHandler(handler)
            handler.close()


def terminal_handler() -> logging.Handler:
    """The one stderr handler of a command (any earlier one is replaced)."""
    _remove("terminal")
    handler = _CurrentStderr()
    handler.addFilter(ProgressOnly())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                           TIME_FORMAT))
    return _tagged(handler, "terminal")


def detach_run_log() -> None:
    """A new command starts with no run log (in a process that ran a command before, the
    earlier run's log must not collect this command's lines)."""
    _remove("run-log")


def attached_run_log() -> Path | None:
    """The run log this process writes to, if a run attached one (so the command's last line
    can say where the details of a failure are)."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, _TAG, None) == "run-log":
            return Path(getattr(handler, "baseFilename", ""))
    return None


def attach_run_log(folder: Path) -> Path:
    """Send every log record (Prefect's included) to ``folder/run.log`` (mode 0600) for the
    rest of this process; idempotent, and replaces a run log attached for an earlier run."""
    path = folder / RUN_LOG
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, _TAG, None) == "run-log" and \
                Path(getattr(handler, "baseFilename", "")) == path:
            return path
    _remove("run-log")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(LocationsOnly("%(asctime)s %(levelname)s %(name)s %(message)s",
                                       TIME_FORMAT))
    root.addHandler(_tagged(handler, "run-log"))
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return path
