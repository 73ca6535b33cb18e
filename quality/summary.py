"""The weekly summary for the data-quality team's channel: counts and trends only.

Made from the per-run counts in the database of runs (never from the findings table), so it
cannot carry a person id, a record id or a UPN: rule names, table names and numbers only.
"""

from __future__ import annotations

import json
import smtplib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, select

from databook.alerts import post_json, send_email
from databook.settings import HostSettings
from quality import catalogue, history

DAYS = 7


@dataclass(frozen=True)
class Summary:
    subject: str
    body: str
    numbers: dict[str, Any]


def build(engine: Engine, today: date, days: int = DAYS) -> Summary:
    """The week to ``today``: runs, findings new and resolved, findings open now by rule
    against a week before, and the children in the databooks."""
    since = today - timedelta(days=days - 1)
    with engine.connect() as conn:
        rows = conn.execute(select(history.runs.c.seq, history.runs.c.run_date)
                            .order_by(history.runs.c.seq)).all()
        week = [r.seq for r in rows if since <= r.run_date <= today]
        before = [r.seq for r in rows if r.run_date < since]
        seqs = week + before[-1:]
        numbers = history.run_counts(conn, seqs)
    status = [numbers[s].get(history.STATUS, {}) for s in week]
    latest = numbers[week[-1]] if week else {}
    base = numbers[before[-1]] if before else {}
    now_rules = latest.get(history.RULE, {})
    then_rules = base.get(history.RULE, {})
    rules = sorted(set(now_rules) | set(then_rules),
                   key=lambda r: (catalogue.group_order(r), r))
    open_now = latest.get(history.STATUS, {})
    facts: dict[str, Any] = {
        "week_from": since.isoformat(), "week_to": today.isoformat(), "runs": len(week),
        "new": sum(s.get(history.NEW, 0) for s in status),
        "resolved": sum(s.get(history.RESOLVED, 0) for s in status),
        "open": sum(open_now.get(k, 0) for k in (history.NEW, history.PERSISTING,
                                                  history.ACCEPTED)),
        "accepted": open_now.get(history.ACCEPTED, 0),
        "children": latest.get(history.INDICATOR, {}).get("children"),
        "children_week_before": base.get(history.INDICATOR, {}).get("children"),
        "by_rule": {r: {"now": now_rules.get(r, 0), "week_before": then_rules.get(r, 0)}
                    for r in rules},
    }
    subject = (f"Safeguarding databook: data quality, week to {today.isoformat()}: "
               f"{facts['new']} new, {facts['resolved']} resolved, {facts['open']} open")
    lines = [f"Data quality, {since.isoformat()} to {today.isoformat()} ({len(week)} run(s)).",
             f"New findings this week: {facts['new']:,}. Resolved: {facts['resolved']:,}. "
             f"Open now: {facts['open']:,} (of which accepted: {facts['accepted']:,}).", ""]
    if facts["children"] is not None:
        lines.append(f"Children in the databooks: {facts['children']:,}"
                     + (f" (a week before: {facts['children_week_before']:,})"
                        if facts["children_week_before"] is not None else "") + ".")
    if rules:
        lines += ["", "Findings by rule (now / a week before):"]
        for r in rules:
            n = facts["by_rule"][r]
            arrow = ("up" if n["now"] > n["week_before"] else "down"
                     if n["now"] < n["week_before"] else "same")
            lines.append(f"  {r}: {n['now']:,} / {n['week_before']:,} ({arrow})")
    if not week:
        lines.append("No run recorded findings this week: check the nightly run.")
    lines += ["", "The worklist, by id, is on the nightly host: databook findings --latest"]
    return Summary(subject, "\n".join(lines), facts)


def channels(settings: HostSettings, webhook: str | None = None,
             email_to: str | None = None) -> tuple[str | None, list[str]]:
    """The data-quality channel: its own webhook and addresses (the nightly settings'
    ``data_quality_webhook`` and ``data_quality_email_to``), else the alert channels."""
    hook = webhook or settings.alert_webhook
    to = email_to or settings.alert_email_to
    emails = [a.strip() for a in (to or "").split(",") if a.strip()] if settings.alert_smtp \
        else []
    return hook, emails


def send(settings: HostSettings, summary: Summary, webhook: str | None = None,
         email_to: str | None = None) -> tuple[list[str], list[str]]:
    """Send to the data-quality channel; (sent, failed) channel names. Never raises for a
    channel that fails: the caller says which."""
    hook, emails = channels(settings, webhook, email_to)
    sent, failed = [], []
    if hook:
        try:
            post_json(hook, {"text": f"{summary.subject}\n{summary.body}",
                             "subject": summary.subject, "summary": summary.numbers})
            sent.append("webhook")
        except OSError:
            failed.append("webhook")
    if emails:
        try:
            send_email(settings, emails, summary.subject, summary.body)
            sent.append("email")
        except (OSError, smtplib.SMTPException):
            failed.append("email")
    return sent, failed


def as_json(summary: Summary) -> str:
    return json.dumps(summary.numbers, indent=2, sort_keys=True)


__all__ = ["Summary", "as_json", "build", "channels", "send"]


