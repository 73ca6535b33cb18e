"""Findings with a history, in the nightly host's database of runs.

Every finding has a stable identity, rule + table + record (the row's id; a row with no id of
its own is named by its person or UPN), and lives as an *episode*: the runs from the one that
first saw it to the last one that did. Because every open episode not seen tonight is closed
tonight, an episode covers consecutive recorded runs, so a run's findings are the episodes
whose span includes it: new (first seen tonight), persisting (seen before) or resolved (closed
tonight). No per-run copy of the findings is kept: a county with thousands of findings and a
year of runs stays a table the size of one night's findings plus what was fixed.

The accepted-finding register holds known exceptions (by identity, so an acceptance outlives
an episode), with an audit trail of who accepted or withdrew each, when and why.

These tables hold case-record ids and UPNs: they are the nightly host's, like ``findings.csv``,
and nothing here is ever returned to Prefect, logged or sent in an alert (only counts are).
SQLite by default (``$DATABOOK_HOME/runs/runs.sqlite``), PostgreSQL where the council runs one;
queries are SQLAlchemy Core so SQL Server compiles them too.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection

from databook.clock import LONDON
from databook.database import engine_for

SCHEMA_VERSION = 1
metadata = MetaData()

meta = Table("dq_meta", metadata,
             Column("name", String(32), primary_key=True),
             Column("value", String(64), nullable=False))
runs = Table("dq_runs", metadata,
             Column("seq", Integer, primary_key=True, autoincrement=True),
             Column("run_id", String(64), nullable=False, unique=True),
             Column("as_at", Date, nullable=False),
             Column("started_at", DateTime(timezone=True), nullable=False),
             Column("run_date", Date, nullable=False),  # started_at's date in Europe/London
             Column("status", String(16), nullable=False))
counts = Table("dq_run_counts", metadata,
               Column("seq", Integer, ForeignKey("dq_runs.seq", ondelete="CASCADE"),
                      primary_key=True),
               Column("kind", String(16), primary_key=True),
               Column("name", String(128), primary_key=True),
               Column("value", BigInteger, nullable=False))
findings = Table("dq_findings", metadata,
                 Column("id", Integer, primary_key=True, autoincrement=True),
                 Column("rule", String(64), nullable=False),
                 Column("table_name", String(128), nullable=False),
                 Column("record", String(64), nullable=False),
                 Column("person_id", BigInteger),
                 Column("upn", String(32)),
                 Column("first_seq", Integer, nullable=False),
                 Column("first_run", String(64), nullable=False),
                 Column("first_date", Date, nullable=False),
                 Column("last_seq", Integer, nullable=False),
                 Column("runs_seen", Integer, nullable=False),
                 Column("resolved_seq", Integer),
                 Column("resolved_date", Date),
                 Index("dq_findings_identity", "rule", "table_name", "record"),
                 Index("dq_findings_span", "last_seq", "first_seq"),
                 Index("dq_findings_resolved", "resolved_seq"))
accepted = Table("dq_accepted", metadata,
                 Column("rule", String(64), primary_key=True),
                 Column("table_name", String(128), primary_key=True),
                 Column("record", String(64), primary_key=True),
                 Column("reason", Text, nullable=False),
                 Column("accepted_by", String(128), nullable=False),
                 Column("accepted_at", DateTime(timezone=True), nullable=False))
audit = Table("dq_accept_log", metadata,
              Column("id", Integer, primary_key=True, autoincrement=True),
              Column("action", String(16), nullable=False),
              Column("rule", String(64), nullable=False),
              Column("table_name", String(128), nullable=False),
              Column("record", String(64), nullable=False),
              Column("reason", Text, nullable=False),
              Column("by", String(128), nullable=False),
              Column("at", DateTime(timezone=True), nullable=False))

NEW, PERSISTING, RESOLVED, ACCEPTED = "new", "persisting", "resolved", "accepted"
STATUSES = (NEW, PERSISTING, RESOLVED, ACCEPTED)
#: Kinds of per-run counts kept for the trends and the weekly summary.
RULE, TABLE, INDICATOR, STATUS = "rule", "table", "indicator", "status"
#: Rows per statement when many findings change at once.
CHUNK = 5000


class HistoryError(Exception):
    """Bad input for the history (an unknown run, rule or finding): one line, ids only."""


def default_url(runs_dir: Path) -> str:
    return f"sqlite:///{runs_dir / 'runs.sqlite'}"


def open_history(url: str) -> Engine:
    """An engine on the database of runs, its tables made if missing (a new database, or
    one from before the findings history). ``dq_meta`` holds the schema version, for the
    day the tables change."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True,
                                                          mode=0o700)
    engine = engine_for(url)
    metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        if conn.execute(select(meta.c.value).where(meta.c.name == "schema")).first() is None:
            conn.execute(insert(meta).values(name="schema", value=str(SCHEMA_VERSION)))
    return engine


def record_key(record_id: object, person_id: object, upn: object) -> str:
    """The record part of a finding's identity: the row's id, else its person, else its UPN."""
    if not _missing(record_id):
        return str(int(record_id))  # type: ignore[call-overload]
    if not _missing(person_id):
        return f"person {int(person_id)}"  # type: ignore[call-overload]
    if not _missing(upn):
        return f"upn {upn}"
    return "no id"


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def identities(frame: pd.DataFrame) -> pd.DataFrame:
    """Tonight's findings, one row per identity (rule, table_name, record) with a person id
    and a UPN (a pupil matched to two people is one finding of that enrolment)."""
    if frame.empty:
        return pd.DataFrame(columns=["rule", "table_name", "record", "person_id", "upn"])
    rec = frame["record_id"].astype("Int64")
    person = frame["person_id"].astype("Int64")
    upn = frame["upn"].astype("string")
    key = rec.astype("string")
    key = key.mask(rec.isna() & person.notna(), "person " + person.astype("string"))
    key = key.mask(rec.isna() & person.isna() & upn.notna(), "upn " + upn)
    key = key.fillna("no id")
    out = pd.DataFrame({"rule": frame["rule"].astype(str), "table_name": frame["table"].astype(
        str), "record": key.astype(str), "person_id": person, "upn": upn})
    return out.drop_duplicates(["rule", "table_name", "record"], ignore_index=True)


@dataclass(frozen=True)
class RunTally:
    """What recording a run found: counts only (safe to log and to return to Prefect)."""

    new: int
    persisting: int
    resolved: int
    accepted: int

    def as_dict(self) -> dict[str, int]:
        return {NEW: self.new, PERSISTING: self.persisting, RESOLVED: self.resolved,
                ACCEPTED: self.accepted}


def _london_date(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


def record_run(engine: Engine, record: Mapping[str, Any], frame: pd.DataFrame) -> RunTally:
    """Record a run's findings against the runs before it; idempotent for a run id already
    recorded (its tally is returned again)."""
    run_id = str(record["run_id"])
    started = datetime.fromisoformat(str(record["started_at"]))
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    tonight = identities(frame)
    with engine.begin() as conn:
        done = conn.execute(select(runs.c.seq).where(runs.c.run_id == run_id)).scalar()
        if done is not None:
            return tally(conn, done)
        seq: int = conn.execute(insert(runs).values(
            run_id=run_id, as_at=date.fromisoformat(str(record["as_at"])), started_at=started,
            run_date=_london_date(started), status=str(record.get("status", "running")))
        ).inserted_primary_key[0]  # type: ignore[index]
        _match(conn, seq, run_id, _london_date(started), tonight)
        _write_counts(conn, seq, record, frame)
        result = tally(conn, seq)
        conn.execute(insert(counts), [{"seq": seq, "kind": STATUS, "name": k, "value": v}
                                      for k, v in result.as_dict().items()])
    return result


def _match(conn: Connection, seq: int, run_id: str, day: date, tonight: pd.DataFrame) -> None:
    """Extend the open episodes seen tonight, close the others, open the new ones."""
    open_rows = conn.execute(select(findings.c.id, findings.c.rule, findings.c.table_name,
                                    findings.c.record)
                             .where(findings.c.resolved_seq.is_(None))).all()
    known = {(r.rule, r.table_name, r.record): r.id for r in open_rows}
    keys = list(zip(tonight["rule"], tonight["table_name"], tonight["record"], strict=True))
    seen = {known[k] for k in keys if k in known}
    gone = [i for i in known.values() if i not in seen]
    for part in _chunks(sorted(seen)):
        conn.execute(update(findings).where(findings.c.id.in_(part)).values(
            last_seq=seq, runs_seen=findings.c.runs_seen + 1))
    for part in _chunks(gone):
        conn.execute(update(findings).where(findings.c.id.in_(part)).values(
            resolved_seq=seq, resolved_date=day))
    fresh = tonight[pd.Series([k not in known for k in keys], index=tonight.index,
                              dtype=bool)]
    rows = [{"rule": r, "table_name": t, "record": k,
             "person_id": None if _missing(p) else int(p), "upn": None if _missing(u) else
             str(u), "first_seq": seq, "first_run": run_id, "first_date": day,
             "last_seq": seq, "runs_seen": 1}
            for r, t, k, p, u in zip(fresh["rule"], fresh["table_name"], fresh["record"],
                                     fresh["person_id"], fresh["upn"], strict=True)]
    for part in _chunks(rows):
        conn.execute(insert(findings), part)


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def _write_counts(conn: Connection, seq: int, record: Mapping[str, Any],
                  frame: pd.DataFrame) -> None:
    """Counts for the trend charts: findings by rule, source rows by table, children per
    indicator. Counts only, so they outlive nothing they should not."""
    rows: list[dict[str, Any]] = []
    by_rule = frame["rule"].value_counts() if not frame.empty else pd.Series(dtype=int)
    rows += [{"kind": RULE, "name": str(k), "value": int(v)} for k, v in by_rule.items()]
    rows += [{"kind": TABLE, "name": str(k), "value": int(v)}
             for k, v in (record.get("source_rows") or {}).items()]
    rows += [{"kind": INDICATOR, "name": str(k), "value": int(v)}
             for k, v in (record.get("summary") or {}).items() if isinstance(v, int)]
    if rows:
        conn.execute(insert(counts), [{"seq": seq, **r} for r in rows])


def set_status(engine: Engine, run_id: str, status: str) -> None:
    """The run's final status (recorded before publishing decided it)."""
    with engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.run_id == run_id).values(status=status))


def _accepted_clause() -> Any:
    return exists().where(and_(accepted.c.rule == findings.c.rule,
                               accepted.c.table_name == findings.c.table_name,
                               accepted.c.record == findings.c.record))


def tally(conn: Connection, seq: int) -> RunTally:
    """New, persisting, resolved and accepted counts of one run (accepted findings counted
    once, as accepted, not as new or persisting)."""
    is_open = and_(findings.c.first_seq <= seq, findings.c.last_seq >= seq)
    acc = _accepted_clause()
    row = conn.execute(select(
        func.count().filter(and_(is_open, findings.c.first_seq == seq, ~acc)),
        func.count().filter(and_(is_open, findings.c.first_seq < seq, ~acc)),
        func.count().filter(findings.c.resolved_seq == seq),
        func.count().filter(and_(is_open, acc)),
    ).select_from(findings).where(or_(is_open, findings.c.resolved_seq == seq))).one()
    return RunTally(*(int(v or 0) for v in row))


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRef:
    seq: int
    run_id: str
    as_at: date
    run_date: date
    status: str


def _ref(row: Any) -> RunRef:
    return RunRef(row.seq, row.run_id, row.as_at, row.run_date, row.status)


def find_run(conn: Connection, run_id: str | None) -> RunRef:
    """A recorded run by id, or the latest (``None``); ``HistoryError`` when there is none."""
    query = select(runs.c.seq, runs.c.run_id, runs.c.as_at, runs.c.run_date, runs.c.status)
    if run_id is None:
        row = conn.execute(query.order_by(runs.c.seq.desc()).limit(1)).first()
        if row is None:
            raise HistoryError("no run has recorded findings yet")
    else:
        row = conn.execute(query.where(runs.c.run_id == run_id)).first()
        if row is None:
            raise HistoryError(f"run {run_id} has no recorded findings (see databook runs)")
    return _ref(row)


def recent_runs(conn: Connection, last: int, up_to: int | None = None) -> list[RunRef]:
    """The last ``last`` recorded runs up to seq ``up_to``, oldest first."""
    query = select(runs.c.seq, runs.c.run_id, runs.c.as_at, runs.c.run_date, runs.c.status)
    if up_to is not None:
        query = query.where(runs.c.seq <= up_to)
    rows = conn.execute(query.order_by(runs.c.seq.desc()).limit(last)).all()
    return [_ref(r) for r in reversed(rows)]


def run_findings(conn: Connection, run: RunRef, statuses: Iterable[str] = STATUSES,
                 rule: str | None = None) -> list[dict[str, Any]]:
    """One run's findings with their status, first-seen date and nights open; ``resolved``
    ones are those that run closed. Accepted findings carry the reason."""
    wanted = set(statuses)
    seq = run.seq
    is_open = and_(findings.c.first_seq <= seq, findings.c.last_seq >= seq)
    query = (select(findings, accepted.c.reason, accepted.c.accepted_by)
             .select_from(findings.outerjoin(accepted, and_(
                 accepted.c.rule == findings.c.rule,
                 accepted.c.table_name == findings.c.table_name,
                 accepted.c.record == findings.c.record)))
             .where(or_(is_open, findings.c.resolved_seq == seq)))
    if rule is not None:
        query = query.where(findings.c.rule == rule)
    out = []
    for r in conn.execute(query):
        if r.resolved_seq == seq:
            status = RESOLVED
        elif r.reason is not None:
            status = ACCEPTED
        else:
            status = NEW if r.first_seq == seq else PERSISTING
        if status not in wanted:
            continue
        out.append({"status": status, "rule": r.rule, "table": r.table_name,
                    "record": r.record, "person_id": r.person_id, "upn": r.upn,
                    "first_seen": r.first_date, "first_run": r.first_run,
                    "nights_open": (run.run_date - r.first_date).days,
                    "accepted_reason": r.reason, "accepted_by": r.accepted_by})
    return out


def run_counts(conn: Connection, seqs: Sequence[int]) -> dict[int, dict[str, dict[str, int]]]:
    """seq -> kind -> name -> value, for the runs given."""
    out: dict[int, dict[str, dict[str, int]]] = {s: {} for s in seqs}
    if not seqs:
        return out
    for r in conn.execute(select(counts).where(counts.c.seq.in_(list(seqs)))):
        out[r.seq].setdefault(r.kind, {})[r.name] = int(r.value)
    return out


# --- the accepted-finding register ------------------------------------------------------


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container): say so, never guess
        import os

        return f"uid {os.getuid()}"


def _identity(conn: Connection, rule: str, record: str, table: str | None,
              register: bool) -> tuple[str, str, str]:
    """The one (rule, table, record) an accept or unaccept names."""
    source = accepted if register else findings
    query = select(source.c.table_name).distinct().where(source.c.rule == rule,
                                                         source.c.record == record)
    if not register:
        query = query.where(findings.c.resolved_seq.is_(None))
    if table is not None:
        query = query.where(source.c.table_name == table)
    tables = sorted(conn.execute(query).scalars())
    where = f" in {table}" if table else ""
    if not tables:
        if register:
            raise HistoryError(f"finding {rule} {record}{where} is not accepted")
        raise HistoryError(f"there is no open finding {rule} for record {record}{where} "
                           "(see databook findings --latest)")
    if len(tables) > 1:
        raise HistoryError(f"finding {rule} {record} is in {len(tables)} tables "
                           f"({', '.join(tables)}): name one with --table")
    return rule, tables[0], record


def accept(engine: Engine, rule: str, record: str, reason: str,
           table: str | None = None) -> tuple[str, str, str]:
    """Put an open finding in the register; it then shows as accepted, never as new."""
    return _register(engine, "accept", rule, record, reason, table)


def unaccept(engine: Engine, rule: str, record: str, reason: str,
             table: str | None = None) -> tuple[str, str, str]:
    """Take a finding out of the register (it shows as new or persisting again)."""
    return _register(engine, "unaccept", rule, record, reason, table)


def _register(engine: Engine, action: str, rule: str, record: str, reason: str,
              table: str | None) -> tuple[str, str, str]:
    """One change to the accepted-finding register and its audit line, in one transaction:
    who (the OS user), when and why, whichever way it goes."""
    reason = " ".join(reason.split())
    if not reason:
        raise HistoryError("--reason must say why the finding is accepted" if action == "accept"
                           else "--reason must say why the acceptance is withdrawn")
    now, who = datetime.now(UTC), _who()
    with engine.begin() as conn:
        key = _identity(conn, rule, record, table, register=action == "unaccept")
        row = dict(zip(("rule", "table_name", "record"), key, strict=True))
        same = [accepted.c[k] == v for k, v in row.items()]
        if action == "accept":
            if conn.execute(select(accepted.c.rule).where(*same)).first():
                raise HistoryError(f"finding {rule} {record} in {key[1]} is already accepted")
            conn.execute(insert(accepted).values(**row, reason=reason, accepted_by=who,
                                                 accepted_at=now))
        else:
            conn.execute(delete(accepted).where(*same))
        conn.execute(insert(audit).values(action=action, **row, reason=reason, by=who, at=now))
    return key


def accepted_register(conn: Connection) -> list[dict[str, Any]]:
    return [{"rule": r.rule, "table": r.table_name, "record": r.record, "reason": r.reason,
             "accepted_by": r.accepted_by, "accepted_at": r.accepted_at}
            for r in conn.execute(select(accepted).order_by(accepted.c.rule,
                                                            accepted.c.record))]


def audit_trail(conn: Connection) -> list[dict[str, Any]]:
    return [{"at": r.at, "action": r.action, "rule": r.rule, "table": r.table_name,
             "record": r.record, "by": r.by, "reason": r.reason}
            for r in conn.execute(select(audit).order_by(audit.c.id))]


# --- retention ----------------------------------------------------------------------------


def prune_findings(engine: Engine, run_ids: Iterable[str]) -> int:
    """Forget the runs pruned by the run-record retention: their per-run counts, and every
    finding no remaining run saw or resolved (a finding still open keeps its first-seen
    date, however old). Run ids never recorded are ignored. Returns the findings removed."""
    ids = list(run_ids)
    if not ids:
        return 0
    with engine.begin() as conn:
        seqs = list(conn.execute(select(runs.c.seq).where(runs.c.run_id.in_(ids))).scalars())
        if not seqs:
            return 0
        conn.execute(delete(counts).where(counts.c.seq.in_(seqs)))
        conn.execute(delete(runs).where(runs.c.seq.in_(seqs)))
        kept = exists().where(runs.c.seq.between(findings.c.first_seq,
                                                 findings.c.resolved_seq))
        gone = conn.execute(delete(findings).where(findings.c.resolved_seq.is_not(None),
                                                   ~kept))
        return int(gone.rowcount or 0)
