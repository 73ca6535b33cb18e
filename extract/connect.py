"""Engines for the two sources, and database errors turned into one readable line.

A message names the host and database but never the password, and never echoes SQL or
parameters (which could carry a child's details).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from extract.errors import SourceError


def describe(url: URL) -> str:
    """Where a source lives, safe to print: a file path, or host:port/database."""
    if url.get_backend_name() == "sqlite":
        return str(url.database or ":memory:").removeprefix("file:")
    where = url.host or "localhost"
    if url.port:
        where += f":{url.port}"
    return f"{where}/{url.database or ''}"


def parse_url(url: str, label: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise SourceError(f"the {label} URL is not a valid SQLAlchemy URL") from None


def open_engine(url: str, label: str) -> Engine:
    """An engine that can only read: SQLite files are opened read-only and must exist.

    Opening a missing SQLite path would otherwise create an empty database and the run would
    go on to publish empty databooks.
    """
    parsed = parse_url(url, label)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(str(parsed.database).removeprefix("file:")).expanduser().resolve()
        if not path.is_file():
            raise SourceError(f"the {label} file {path} does not exist")
        parsed = parsed.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
    try:
        # hide_parameters: a driver error must never echo a row's values into a log.
        return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise SourceError(f"no database driver for the {label} URL ({exc})") from None


def _reason(exc: BaseException, url: URL) -> str:
    original = getattr(exc, "orig", None) or exc
    text = " ".join(str(original).split())
    if url.password:
        text = text.replace(str(url.password), "***")
    return text[:200]


@contextmanager
def connected(engine: Engine, label: str) -> Iterator[Connection]:
    """A connection whose connection-level failures become a one-line ``SourceError``."""
    try:
        conn = engine.connect()
    except DBAPIError as exc:
        raise SourceError(
            f"cannot connect to the {label} at {describe(engine.url)}: {_reason(exc, engine.url)}",
            transient=True) from None
    try:
        yield conn
    except DBAPIError as exc:
        raise SourceError(
            f"reading the {label} at {describe(engine.url)} failed: "
            f"{type(getattr(exc, 'orig', exc)).__name__}",
            transient=exc.connection_invalidated) from None
    except SQLAlchemyError as exc:
        raise SourceError(
            f"reading the {label} at {describe(engine.url)} failed: {type(exc).__name__}"
        ) from None
    finally:
        conn.close()
