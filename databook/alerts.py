"""Tell the MI team when a run fails or is blocked: a webhook (Teams, Slack or any receiver
that takes a JSON POST) and/or an email. The message says what happened and where the report
is; it never carries a child's details (the run record it is made from holds none).
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from databook.settings import HostSettings

log = logging.getLogger(__name__)


def message(record: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) for a run record; a record that carries its own ``subject`` and
    ``body`` (the portal's concern alerts) is sent as written."""
    if record.get("subject") and record.get("body"):
        return str(record["subject"]), str(record["body"])
    status = str(record.get("status", "failed")).upper()
    subject = f"Safeguarding databook: run {record.get('run_id')} {status}"
    body = "\n".join([
        f"Run {record.get('run_id')} for {record.get('as_at')} was {status.lower()}.",
        f"What happened: {record.get('error', 'no detail recorded')}",
        f"Report: {record.get('report', 'none')}",
        "The previous databooks remain current for schools.",
    ])
    return subject, body


def configured(settings: HostSettings) -> list[str]:
    """The channels the settings ask for, so a failure of all of them is not mistaken for
    "no channel configured"."""
    return settings.alert_channels()


def send(settings: HostSettings, record: Mapping[str, Any]) -> list[str]:
    """Send to every configured channel; returns the channels that accepted the message.
    A channel that fails is logged, never raised: an alert must not hide the run's own error."""
    subject, body = message(record)
    sent = []
    if settings.alert_webhook:
        try:
            post_json(settings.alert_webhook, {"text": f"{subject}\n{body}", "subject": subject,
                                               "run_id": record.get("run_id"),
                                               "status": record.get("status"),
                                               "report": record.get("report")})
            sent.append("webhook")
        except OSError as exc:
            log.error("could not send the webhook alert: %s", exc)
    if settings.alert_smtp and settings.alert_email_to:
        try:
            send_email(settings, [str(settings.alert_email_to)], subject, body)
            sent.append("email")
        except (OSError, smtplib.SMTPException) as exc:
            log.error("could not send the email alert: %s", exc)
    return sent


def post_json(url: str, payload: Mapping[str, Any]) -> None:
    """POST a JSON message (Teams, Slack or any receiver); raises ``OSError`` on failure."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15):
        pass


def send_email(settings: HostSettings, to: Sequence[str], subject: str, body: str) -> None:
    """One email through the configured SMTP server (``smtps://`` for TLS with a login)."""
    parts = urlsplit(str(settings.alert_smtp))
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = subject, settings.alert_email_from, ", ".join(to)
    mail.set_content(body)
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with smtp_class(parts.hostname or "localhost", parts.port or 25, timeout=15) as smtp:
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(mail)


def send_event(settings: HostSettings, what: str, status: str, error: str,
               report: str = "") -> list[str]:
    """A ledger or collection event to the configured channels, as a record-like message of
    ids and counts only; returns the channels that took it."""
    return send(settings, {"run_id": what, "status": status, "error": error,
                           "report": report or "databook audit verify"})
