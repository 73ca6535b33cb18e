"""The portal host's backup and restore: its database, its state folder (the ledger's key,
the HMAC and TOTP keys) and the manifest keys it trusts.

The database is dumped table by table through SQLAlchemy (JSON lines, with bytes and times
tagged), not with ``pg_dump``: the same archive restores into SQLite or PostgreSQL, whatever
client tools the host has, and a restore recreates the schema with the portal's own
migrations at the revision the backup was taken at, then brings it up to this version's.

A restore never forks the ledger: it puts back the ledger as it was at the backup, and says
how many entries the database held before it (when it could still be read), so the loss is
named; ``databook witness recover`` on the nightly host then re-appends what the witness's
copy holds (``databook.ledger.recovery``), and ``databook audit verify --accept-restore``
records what stayed lost.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Integer, MetaData, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from databook.archive import Archive, BackupError, files_under, put_files, same_council
from databook.database import engine_for
from databook.ledger.config import KEY_FILE
from databook.ledger.note import NoteError, parse_skey
from databook.portal_table import PortalTable
from portal.config import load
from portal.migrate import upgrade

VERSION_TABLE = "alembic_version"
CHUNK = 1000


def identity(portal: PortalTable) -> str | None:
    """The council's portal, named by its ledger's public key (None: no ledger key yet)."""
    path = portal.state_dir / KEY_FILE
    if not path.exists():
        return None
    try:
        verifier = parse_skey(path.read_text().strip()).verifier
    except NoteError:
        raise BackupError(f"{path} is not a ledger key") from None
    return f"ledger {verifier.name}+{verifier.key_id.hex()}"


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | memoryview | bytearray):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, Decimal):
        return str(value)
    return value


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        if "$b" in value:
            return base64.b64decode(value["$b"])
        if "$t" in value:
            return datetime.fromisoformat(value["$t"])
        if "$d" in value:
            return date.fromisoformat(value["$d"])
    return value


def _ledger_facts(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        if not inspect(conn).has_table("ledger_entries"):
            return {"ledger_size": 0, "ledger_newest": None}
        size, newest = conn.execute(text(
            "SELECT COUNT(*), MAX(at) FROM ledger_entries")).one()
    return {"ledger_size": int(size), "ledger_newest": str(newest) if newest else None}


def dump(engine: Engine) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Every table, as ``db/<table>.jsonl``, and the Alembic revision(s)."""
    meta = MetaData()
    meta.reflect(engine)
    members: dict[str, bytes] = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            rows = conn.execute(select(table)).mappings()
            members[f"db/{table.name}.jsonl"] = "".join(
                json.dumps({k: _plain(v) for k, v in row.items()}) + "\n" for row in rows
            ).encode()
    return members, _ledger_facts(engine)


def backup() -> Archive:
    """This host's portal, as its settings say."""
    return backup_of(load().portal)


def restore(archive: Archive, *, force: bool) -> str:
    return restore_into(load().portal, archive, force=force)


def backup_of(portal: PortalTable) -> Archive:
    url = portal.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise BackupError(f"there is no portal database at {url.removeprefix('sqlite:///')}")
    council = identity(portal)
    if council is None:
        raise BackupError(f"the portal has no ledger key in {portal.state_dir} yet: nothing "
                          "to back up (or DATABOOK_PORTAL_STATE_DIR is wrong)")
    engine = engine_for(url)
    try:
        members, facts = dump(engine)
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot read the portal database ({type(exc).__name__})") from None
    finally:
        engine.dispose()
    members |= files_under(portal.state_dir, "state")
    facts["council_name"] = portal.council_name
    return Archive("portal", council, facts, members)


def _current(engine: Engine) -> dict[str, Any] | None:
    try:
        return _ledger_facts(engine)
    except SQLAlchemyError:
        return None


def restore_into(portal: PortalTable, archive: Archive, *, force: bool) -> str:
    """Put the archive back; a line saying what was restored and what was lost."""
    same_council(archive, identity(portal), "this portal")
    url = portal.database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True,
                                                          mode=0o700)
    engine = engine_for(url)
    try:
        before = _current(engine)
        kept = int(archive.facts.get("ledger_size") or 0)
        held = int(before["ledger_size"]) if before else None
        if held is not None and held > kept and not force:
            raise BackupError(f"the portal database is newer than this backup ({held} ledger "
                              f"entries against {kept}): restoring would lose entries {kept} "
                              f"to {held - 1}; add --force to restore it anyway")
        _load(engine, url, archive)
    finally:
        engine.dispose()
    put_files(archive.members, "state", portal.state_dir)
    lost = (f"; before the restore it held {held}: entries {kept} to {held - 1} are not in the "
            "backup" if held is not None and held > kept else "")
    return (f"restored the portal from the backup of {archive.created_at}: the ledger has "
            f"{kept} entries{lost}. Next: `databook witness recover` on the nightly host, then "
            "`databook audit verify --accept-restore` here")


def _load(engine: Engine, url: str, archive: Archive) -> None:
    revisions = [row["version_num"] for row in _rows(archive, VERSION_TABLE)]
    meta = MetaData()
    meta.reflect(engine)
    meta.drop_all(engine)
    for revision in revisions or ["heads"]:
        upgrade(url, revision)
    meta = MetaData()
    meta.reflect(engine)
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            if table.name == VERSION_TABLE:
                continue
            rows = _rows(archive, table.name)
            for start in range(0, len(rows), CHUNK):
                conn.execute(table.insert(), rows[start:start + CHUNK])
        if engine.dialect.name == "postgresql":
            _reset_sequences(conn, meta)
    upgrade(url)


def _reset_sequences(conn: Connection, meta: MetaData) -> None:
    """PostgreSQL: each serial column's sequence continues after the restored rows."""
    quote = conn.dialect.identifier_preparer.quote
    for table in meta.sorted_tables:
        columns = list(table.primary_key.columns)
        if len(columns) != 1 or not isinstance(columns[0].type, Integer):
            continue
        t, c = quote(table.name), quote(columns[0].name)
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence(:t, :c), "
                          f"COALESCE((SELECT MAX({c}) FROM {t}), 1), "
                          f"(SELECT MAX({c}) FROM {t}) IS NOT NULL)"),
                     {"t": table.name, "c": columns[0].name})


def _rows(archive: Archive, table: str) -> list[dict[str, Any]]:
    data = archive.members.get(f"db/{table}.jsonl", b"")
    return [{k: _typed(v) for k, v in json.loads(line).items()}
            for line in data.decode().splitlines() if line.strip()]
