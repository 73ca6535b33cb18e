"""Unexpected exceptions, contained: say which stage failed, the exception's type and the line of
code, never what the exception said.

An exception's text can carry a value read from a child's record (``ValueError: could not
convert 'Jane Smith' to a date``). Prefect stores a failed task's exception text in its
database and its logs, and the run record, the report and the alerts repeat it; so every
stage re-raises anything it did not expect as a ``StageFailed`` built from the type and the
code location alone (``from None``, so the original is not chained), and logs the frames
(file, line, function; no values) for the run's log file.
"""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("databook.faults")


class StageFailed(Exception):
    """A stage of the run failed unexpectedly; the message names the stage, the exception type
    and the code location, and is safe to show, store and send."""

    def __init__(self, stage: str, exc: BaseException) -> None:
        self.stage, self.kind, self.where = stage, type(exc).__name__, location(exc)
        super().__init__(f"the {stage} stage failed: unexpected {self.kind} at {self.where} "
                         "(details in the run's run.log)")


def in_project(filename: str) -> bool:
    """A frame in this project's own code (compiled libraries report relative names)."""
    path = Path(filename)
    return path.is_absolute() and "site-packages" not in path.parts \
        and path.resolve().is_relative_to(ROOT)


def _short(filename: str) -> str:
    """A project file relative to the project, a library file relative to site-packages."""
    path = Path(filename)
    if "site-packages" in path.parts:
        return "/".join(path.parts[path.parts.index("site-packages") + 1:])
    if in_project(filename):
        return str(path.resolve().relative_to(ROOT))
    return filename if not path.is_absolute() else path.name


def frames(tb: TracebackType | None) -> list[str]:
    """``file:line in function`` for each frame: code locations, never local values."""
    return [f"{_short(f.filename)}:{f.lineno} in {f.name}" for f in traceback.extract_tb(tb)]


def location(exc: BaseException) -> str:
    """The innermost frame in this project's code (else the innermost of all) as file:line."""
    summary = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in summary if in_project(f.filename)] or list(summary)
    if not ours:
        return "an unknown place"
    return f"{_short(ours[-1].filename)}:{ours[-1].lineno}"


def safe_description(exc: BaseException) -> str:
    """Type and code locations of an exception and its causes, without any exception text."""
    lines, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        lines.append(f"{type(current).__name__} (message withheld); frames, outermost first:")
        lines += [f"  {frame}" for frame in frames(current.__traceback__)]
        current = current.__cause__ or current.__context__
        if current is not None:
            lines.append("raised while handling:")
    return "\n".join(lines)


def describe(exc: BaseException, safe: tuple[type[BaseException], ...]) -> str:
    """One line for the run record and the alerts: an expected error's own message (written to
    be safe), otherwise only the type and where."""
    if isinstance(exc, safe):
        return " ".join(str(exc).split())
    return f"unexpected {type(exc).__name__} at {location(exc)}"


def contained(stage: str, safe: tuple[type[BaseException], ...]) -> Callable[
        [Callable[P, R]], Callable[P, R]]:
    """Let expected errors through; turn any other exception into ``StageFailed``."""
    passed: tuple[type[BaseException], ...] = (StageFailed, *safe)

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except passed:
                raise
            except Exception as exc:
                log.error("the %s stage failed: %s", stage, safe_description(exc))
                raise StageFailed(stage, exc) from None
        return inner
    return wrap
