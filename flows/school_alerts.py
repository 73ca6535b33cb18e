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
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from databook.alerts import post_json, send_email
from flows.settings import NightlySettings

log = logging.getLogger(__name__)
LONDON = ZoneInfo("Europe/London")


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


def notify(settings: NightlySettings, schools: Sequence[tuple[int, str]],
           updated_at: datetime) -> dict[int, list[str]]:
    """Tell each configured school among ``schools`` (URN, name); returns, per school, the
    channels that accepted. A failure is logged, never raised: the run has published."""
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
