"""The council officer's reports, read from the ledger's signed entry bytes (never from the
unsigned copies of their fields) and the drop's manifests.

Everything here returns rows of counts, URNs, ids, user emails and pseudonyms: a child's details
are never read, except by ``child``, which an officer runs for one child (a subject access
request or a breach) and which shows only that child's files and who downloaded them.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from databook.ledger import refusals
from databook.ledger.config import LedgerConfig
from databook.ledger.models import LedgerEntry, LedgerReasonText
from databook.plain_text import neutral

LONDON = ZoneInfo("Europe/London")

#: Entries that start a signed-in session: a sign-in, and the end of enrolment (a new user is
#: signed in by setting their second factor; their first download is not "impossible").
SESSION_STARTS = frozenset({"signin_ok", "enrolled", "second_factor_added"})


@dataclass(frozen=True)
class Event:
    index: int
    kind: str
    at: datetime  # UTC
    fields: Mapping[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


def _at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def events(db: Session, kinds: tuple[str, ...] | None = None,
           since: datetime | None = None) -> Iterator[Event]:
    """Entries in index order, parsed from their signed bytes."""
    query = select(LedgerEntry.idx, LedgerEntry.body).order_by(LedgerEntry.idx)
    if kinds:
        query = query.where(LedgerEntry.kind.in_(kinds))
    if since is not None:
        query = query.where(LedgerEntry.at >= since)
    for idx, body in db.execute(query.execution_options(yield_per=10_000)):
        obj = json.loads(bytes(body))
        yield Event(int(idx), str(obj["kind"]), _at(obj["time"]), obj)


def _local(at: datetime) -> str:
    return at.astimezone(LONDON).isoformat(timespec="seconds")


def since_date(text: str | None) -> datetime | None:
    """A ``--since`` date, as the start of that day in London."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since must be a date like 2026-11-21, not {text!r}") from None
    return datetime(day.year, day.month, day.day, tzinfo=LONDON).astimezone(UTC)


DOWNLOAD_COLUMNS = ("index", "time", "user", "urn", "run_id", "reason_code")


def downloads(db: Session, urn: int | None = None, user: str | None = None,
              since: datetime | None = None, partner: str | None = None
              ) -> list[dict[str, Any]]:
    """Downloads; a partner's carries ``partner_id`` and no URN."""
    rows = []
    for e in events(db, ("download",), since):
        if urn is not None and e.get("urn") != urn:
            continue
        if partner is not None and e.get("partner_id") != partner:
            continue
        if user is not None and str(e.get("actor_email", "")).lower() != user.lower():
            continue
        row = {"index": e.index, "time": _local(e.at), "user": e.get("actor_email"),
               "urn": e.get("urn"), "run_id": e.get("run_id"),
               "reason_code": e.get("reason_code")}
        if e.get("partner_id"):
            row["partner_id"] = e.get("partner_id")
        rows.append(row)
    return rows


def usage(db: Session, manifests: Mapping[str, Mapping[str, Any]],
          phases: Mapping[int, str]) -> list[dict[str, Any]]:
    """The access protocol's monitoring figures, per month (London time): downloads,
    distinct schools that
    downloaded, downloads by school phase, and the distinct children in the files downloaded
    (by the manifests' pseudonyms; a file whose run has been pruned from the drop is counted
    in ``files_not_in_drop`` rather than guessed)."""
    months: dict[str, dict[str, Any]] = {}
    for e in events(db, ("download", "lookup")):
        month = e.at.astimezone(LONDON).strftime("%Y-%m")
        m = months.setdefault(month, {"downloads": 0, "schools": set(), "phases": Counter(),
                                      "children": set(), "missing": 0, "lookups": 0,
                                      "looked_up": set(), "partners": Counter()})
        if e.kind == "download" and e.get("partner_id"):  # a partner's: by partner
            m["downloads"] += 1
            m["partners"][str(e.get("partner_id"))] += 1
            found = _partner_in(manifests.get(str(e.get("run_id"))), str(e.get("partner_id")))
            if found is None:
                m["missing"] += 1
            else:
                m["children"].update(found.get("members", []))
            continue
        urn = int(e.get("urn") or 0)
        if e.kind == "lookup":  # one pupil's row, by its pseudonym (or "none")
            m["lookups"] += 1
            if str(e.get("row")) not in ("none", "ambiguous"):
                m["looked_up"].add(str(e.get("row")))
            continue
        m["downloads"] += 1
        m["schools"].add(urn)
        m["phases"][phases.get(urn, "unknown")] += 1
        school = _school_in(manifests.get(str(e.get("run_id"))), urn)
        if school is None:
            m["missing"] += 1
        else:
            m["children"].update(school.get("members", []))
    out = []
    for month, m in sorted(months.items()):
        row: dict[str, Any] = {"month": month, "downloads": m["downloads"],
                               "schools": len(m["schools"]), "children": len(m["children"]),
                               "files_not_in_drop": m["missing"], "lookups": m["lookups"],
                               "children_looked_up": len(m["looked_up"])}
        row.update({f"phase:{p}": n for p, n in sorted(m["phases"].items())})
        row.update({f"partner:{p}": n for p, n in sorted(m["partners"].items())})
        out.append(row)
    return out


def _partner_in(manifest: Mapping[str, Any] | None, partner_id: str
                ) -> Mapping[str, Any] | None:
    if manifest is None:
        return None
    for partner in manifest.get("partners", []):
        if partner.get("partner_id") == partner_id:
            return dict(partner)
    return None


def _school_in(manifest: Mapping[str, Any] | None, urn: int) -> Mapping[str, Any] | None:
    if manifest is None:
        return None
    for school in manifest.get("schools", []):
        if int(school["urn"]) == urn:
            return dict(school)
    return None


def _outside_hours(at: datetime, config: LedgerConfig) -> bool:
    local = at.astimezone(LONDON)
    return local.weekday() >= 5 or not (
        config.school_day_start <= local.time() < config.school_day_end)


def irregular(db: Session, config: LedgerConfig,
              manifests: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each finding: index, time, user, what. See README "Download ledger and audit"."""
    found: list[dict[str, Any]] = []

    def flag(e: Event, what: str) -> None:
        found.append({"index": e.index, "time": e.at.astimezone(LONDON).isoformat(
            timespec="seconds"), "user": e.get("actor_email"), "what": what})

    recent: dict[Any, list[datetime]] = defaultdict(list)
    looked: dict[Any, list[datetime]] = defaultdict(list)
    failures: Counter[tuple[Any, date]] = Counter()
    agreed: dict[Any, str] = {}
    signed_in: set[Any] = set()
    left: set[Any] = set()
    locked_until: dict[Any, datetime] = {}
    published = _published_order(manifests)
    for e in events(db):
        who = e.get("actor_id")
        if e.kind == "signin_failed":
            key = (e.get("actor_email") or who, e.at.astimezone(LONDON).date())
            failures[key] += 1
            if failures[key] == config.failed_signins:
                flag(e, f"{config.failed_signins} failed sign-ins in one day")
        elif e.kind == "lookup_failed":
            if e.get("what") == "wrong_child":
                flag(e, f"the portal served a looked-up record of another child than the one "
                        f"asked for (school {e.get('urn')}, run {e.get('run_id')}): check the "
                        "portal and the drop")
            else:
                flag(e, f"a looked-up record failed its integrity check in the browser "
                        f"(school {e.get('urn')}, run {e.get('run_id')}): check the drop")
        elif e.kind == "account_delayed":
            flag(e, f"account under attack: {e.get('failures')} failed sign-in steps from any "
                    "address; devices it has not used must now wait")
        elif e.kind == "lockout" and e.get("until"):
            locked_until[(who, e.get("client"))] = datetime.strptime(
                str(e.get("until")), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        elif e.kind in SESSION_STARTS:
            signed_in.add(who)
            if who in left:
                flag(e, "impossible: a user who left signed in")
            until = locked_until.get((who, e.get("client")))  # a lock is per address
            if until is not None and e.at < until:
                flag(e, "impossible: signed in while locked")
        elif e.kind == "agreement_accepted":
            agreed[who] = str(e.get("version"))
        elif e.kind == "user_left":
            left.add(e.get("target_id"))
        elif e.kind == "download":
            _download_checks(e, config, flag, recent[who], agreed.get(who), published,
                             leaver=who in left, signed_in=who in signed_in)
        elif e.kind == "lookup":
            _lookup_checks(e, config, flag, looked[who], leaver=who in left,
                           signed_in=who in signed_in)
    found += refusals.rows(events(db, ("refused", "throttled")),
                           lambda at: at.astimezone(LONDON).isoformat(timespec="seconds"))
    return sorted(found, key=lambda row: row["index"])


def _in_window(recent: list[datetime], at: datetime, config: LedgerConfig) -> int:
    """How many of one user's events (``at`` included) fall in the burst window ending at
    ``at``; ``recent`` keeps only those, so each check flags a burst once, as it starts."""
    recent.append(at)
    window = timedelta(seconds=config.burst_window_s)
    while recent and at - recent[0] > window:
        recent.pop(0)
    return len(recent)


def _lookup_checks(e: Event, config: LedgerConfig, flag: Any, recent: list[datetime],
                   leaver: bool, signed_in: bool) -> None:
    """A look-up out of hours, and many look-ups by one user in a short time (a
    DSL reading pupil after pupil is doing what a download does, one record at a time)."""
    if _outside_hours(e.at, config):
        flag(e, "look-up outside school hours")
    if _in_window(recent, e.at, config) == config.burst_lookups + 1:
        flag(e, f"more than {config.burst_lookups} look-ups by one user within "
                f"{config.burst_window_s // 60} minutes")
    if leaver:
        flag(e, "impossible: a look-up by a user who left")
    if not signed_in:
        flag(e, "impossible: a look-up with no sign-in before it")


def _download_checks(e: Event, config: LedgerConfig, flag: Any, recent: list[datetime],
                     agreed: str | None, published: list[tuple[datetime, str]],
                     leaver: bool, signed_in: bool) -> None:
    if _outside_hours(e.at, config):
        flag(e, "download outside school hours")
    if _in_window(recent, e.at, config) == config.burst_downloads + 1:
        flag(e, f"more than {config.burst_downloads} downloads by one user within "
                f"{config.burst_window_s // 60} minutes")
    if agreed is None:
        flag(e, "impossible: a download by a user with no accepted agreement")
    elif config.agreement_version and agreed != config.agreement_version:
        flag(e, f"download on agreement {agreed}, not the current {config.agreement_version}")
    if leaver:
        flag(e, "impossible: a download by a user who left")
    if not signed_in:
        flag(e, "impossible: a download with no sign-in before it")
    newer = [run for at, run in published if at <= e.at]
    if newer and str(e.get("run_id")) != newer[-1]:
        flag(e, f"download of run {e.get('run_id')}, superseded by {newer[-1]}")


def _published_order(manifests: Mapping[str, Mapping[str, Any]]) -> list[tuple[datetime, str]]:
    out = []
    for run_id, manifest in manifests.items():
        try:
            at = datetime.strptime(str(manifest["generated_at"]), "%Y-%m-%dT%H:%M:%SZ")
        except (KeyError, ValueError):
            continue
        out.append((at.replace(tzinfo=UTC), run_id))
    return sorted(out)


def uncollected(db: Session, manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Schools in the latest run whose current file nobody has downloaded since it was
    published (since the school's rows last changed, where the manifest says)."""
    generated = datetime.strptime(str(manifest["generated_at"]), "%Y-%m-%dT%H:%M:%SZ"
                                  ).replace(tzinfo=UTC)
    since: dict[int, datetime] = {}
    for school in manifest.get("schools", []):
        changed = school.get("updated_at") or ""
        at = (datetime.strptime(changed, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
              if changed else generated)
        since[int(school["urn"])] = at
    collected = {int(e.get("urn")) for e in events(db, ("download",), min(since.values(),
                                                                         default=generated))
                 if e.get("urn") in since and e.at >= since[int(e.get("urn"))]}
    return [{"urn": int(s["urn"]), "name": s.get("name", "")}
            for s in manifest.get("schools", []) if int(s["urn"]) not in collected]


def child(db: Session, pseudonym: str, manifests: Mapping[str, Mapping[str, Any]]
          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(files that held the child, downloads of those files with when and why)."""
    files = []
    for run_id, manifest in sorted(manifests.items()):
        for school in manifest.get("schools", []):
            if pseudonym in school.get("members", []):
                files.append({"run_id": run_id, "urn": int(school["urn"]),
                              "name": school.get("name", ""), "sha256": school.get("sha256")})
        for partner in manifest.get("partners", []):  # partners' files too
            if pseudonym in partner.get("members", []):
                files.append({"run_id": run_id, "urn": None, "name": partner.get("name", ""),
                              "sha256": partner.get("sha256"),
                              "partner_id": partner.get("partner_id")})
    wanted = {(f["run_id"], f["urn"]) for f in files if f["urn"] is not None}
    wanted_partners = {(f["run_id"], f["partner_id"]) for f in files if f.get("partner_id")}
    hits = [e for e in events(db, ("download",))
            if (str(e.get("run_id")), e.get("urn")) in wanted
            or (e.get("partner_id")
                and (str(e.get("run_id")), e.get("partner_id")) in wanted_partners)]
    texts = {int(i): t for i, t in db.execute(
        select(LedgerReasonText.idx, LedgerReasonText.text).where(
            LedgerReasonText.idx.in_([e.index for e in hits])))} if hits else {}
    downloads = [{"index": e.index,
                  "time": e.at.astimezone(LONDON).isoformat(timespec="seconds"),
                  "user": e.get("actor_email"), "urn": e.get("urn"), "run_id": e.get("run_id"),
                  "reason_code": e.get("reason_code"),
                  "reason_text": neutral(texts.get(e.index, "")),
                  **({"partner_id": e.get("partner_id")} if e.get("partner_id") else {})}
                 for e in hits]
    return files, downloads


def child_lookups(db: Session, pseudonym: str) -> list[dict[str, Any]]:
    """Every look-up that opened the child's row (the ledger names the row by the
    manifests' pseudonym), with who, when and why (the reason text kept apart)."""
    hits = [e for e in events(db, ("lookup",)) if e.get("row") == pseudonym]
    texts = {int(i): t for i, t in db.execute(
        select(LedgerReasonText.idx, LedgerReasonText.text).where(
            LedgerReasonText.idx.in_([e.index for e in hits])))} if hits else {}
    return [{"index": e.index, "time": e.at.astimezone(LONDON).isoformat(timespec="seconds"),
             "user": e.get("actor_email"), "urn": e.get("urn"), "run_id": e.get("run_id"),
             "reason_code": e.get("reason_code"),
             "reason_text": neutral(texts.get(e.index, ""))}
            for e in hits]
