"""Tell a school's designated safeguarding leads that their databook changed.

Configured per school, in ``databook.toml`` (nothing is sent for a school not listed)::

    [school_alerts.112000]
    email = ["dsl@school.example", "deputy.dsl@school.example"]   # through DATABOOK_ALERT_SMTP
    webhook = "https://school.example/databook-hook"              # a JSON POST, optional

The message carries the school's URN and name and when the databook was updated, and nothing
else: never a child, a count of children or what changed. The school reads that in the
workbook itself, from the portal.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from flows.settings import Settings

log = logging.getLogger(__name__)
LONDON = ZoneInfo("Europe/London")


class SchoolAlertError(ValueError):
    """A ``[school_alerts]`` entry cannot be used; the message names it."""


@dataclass(frozen=True)
class SchoolAlert:
    email: tuple[str, ...] = ()
    webhook: str | None = None


def parse(table: object, source: Path) -> dict[int, SchoolAlert]:
    """The ``[school_alerts]`` table: URN -> where to tell that school's DSLs."""
    if not isinstance(table, Mapping):
        raise SchoolAlertError(f"school_alerts in {source} must be a table of schools")
    out: dict[int, SchoolAlert] = {}
    for urn, entry in table.items():
        where = f"school_alerts.{urn} in {source}"
        if not str(urn).isdigit() or not isinstance(entry, Mapping):
            raise SchoolAlertError(f"{where}: expected [school_alerts.URN] with email/webhook")
        unknown = set(entry) - {"email", "webhook"}
        if unknown:
            raise SchoolAlertError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        emails = entry.get("email", [])
        if isinstance(emails, str):
            emails = [emails]
        if not isinstance(emails, list) or not all(
                isinstance(e, str) and "@" in e for e in emails):
            raise SchoolAlertError(f"{where}: email must be an address or a list of them")
        hook = entry.get("webhook")
        if hook is not None and (not isinstance(hook, str)
                                 or urlsplit(hook).scheme not in ("http", "https")):
            raise SchoolAlertError(f"{where}: webhook must be an http:// or https:// URL")
        out[int(urn)] = SchoolAlert(tuple(emails), hook)
    return out


def message(urn: int, name: str, updated_at: datetime) -> tuple[str, str]:
    """(subject, body): the school and the time, nothing about any child."""
    local = updated_at.astimezone(LONDON)
    subject = f"Safeguarding databook updated: {name} (URN {urn})"
    body = "\n".join([
        f"The safeguarding databook for {name} (URN {urn}) was updated at "
        f"{local:%H:%M} on {local:%d/%m/%Y}.",
        "Download it from the databook portal as usual; its Changes sheet shows what changed.",
    ])
    return subject, body


def notify(settings: Settings, schools: Sequence[tuple[int, str]],
           updated_at: datetime) -> dict[int, list[str]]:
    """Tell each configured school among ``schools`` (URN, name); returns, per school, the
    channels that accepted. A failure is logged, never raised: the run has published."""
    from flows.alerts import post_json, send_email  # flows.settings imports this module

    sent: dict[int, list[str]] = {}
    for urn, name in schools:
        target = settings.school_alerts.get(urn)
        if target is None:
            continue
        subject, body = message(urn, name, updated_at)
        done: list[str] = []
        if target.webhook:
            try:
                post_json(target.webhook, {"text": f"{subject}\n{body}", "subject": subject,
                                       "urn": urn, "school": name,
                                       "updated_at": updated_at.isoformat()})
                done.append("webhook")
            except OSError as exc:
                log.error("could not tell school %s by webhook: %s", urn, type(exc).__name__)
        if target.email:
            if not settings.alert_smtp:
                log.error("school %s has email alerts but DATABOOK_ALERT_SMTP is not set", urn)
            else:
                try:
                    send_email(settings, target.email, subject, body)
                    done.append("email")
                except (OSError, smtplib.SMTPException) as exc:
                    log.error("could not tell school %s by email: %s", urn, type(exc).__name__)
        sent[urn] = done
    return sent
