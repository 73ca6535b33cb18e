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
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

from databook.settings import HostSettings

log = logging.getLogger(__name__)


#: How a message says what became of a run ("Run X failed.", never "was failed").
WHAT_HAPPENED = {"failed": "failed", "blocked": "was blocked: nothing was published",
                 "crashed": "crashed: its process ended without finishing",
                 "late": "is late: it has not started"}


def message(record: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body) for a run record (or an event's record-like message); a record that
    carries its own ``subject`` and ``body`` (the portal's concern alerts) is sent as written."""
    if record.get("subject") and record.get("body"):
        return str(record["subject"]), str(record["body"])
    status = str(record.get("status") or "failed")
    subject = f"Safeguarding databook: run {record.get('run_id')} {status.upper()}"
    as_at = f" for {record['as_at']}" if record.get("as_at") else ""
    body = "\n".join([
        f"Run {record.get('run_id')}{as_at} {WHAT_HAPPENED.get(status, status)}.",
        f"What happened: {record.get('error') or 'no detail recorded'}",
        f"Report: {record.get('report') or 'none'}",
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
    return deliver(Channels.of(settings), subject, body, {
        "run_id": record.get("run_id"), "status": record.get("status"),
        "report": record.get("report")})


@dataclass(frozen=True)
class Channels:
    """Where alerts go: the settings' webhook and e-mail, as plain values, so that a Prefect
    automation (``flows.alert_block``) sends through exactly the same code and channels."""

    webhook: str | None = None
    smtp: str | None = None
    email_to: str | None = None
    email_from: str = "databook@localhost"

    @classmethod
    def of(cls, settings: HostSettings) -> Channels:
        return cls(settings.alert_webhook, settings.alert_smtp,
                   None if settings.alert_email_to is None else str(settings.alert_email_to),
                   str(settings.alert_email_from))

    def names(self) -> list[str]:
        return [c for c, on in (("webhook", self.webhook),
                                ("email", self.smtp and self.email_to)) if on]


def deliver(channels: Channels, subject: str, body: str,
            fields: Mapping[str, Any]) -> list[str]:
    """One message to every channel: the webhook gets ``{"text", "subject", **fields}``;
    returns the channels that took it, logging (never raising) the ones that failed."""
    sent = []
    if channels.webhook:
        try:
            post_json(channels.webhook, {"text": f"{subject}\n{body}", "subject": subject,
                                         **fields})
            sent.append("webhook")
        except OSError as exc:
            log.error("could not send the webhook alert: %s", exc)
    if channels.smtp and channels.email_to:
        try:
            mail_to(channels.smtp, channels.email_from, [channels.email_to], subject, body)
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
    mail_to(str(settings.alert_smtp), str(settings.alert_email_from), to, subject, body)


def mail_to(smtp_url: str, sender: str, to: Sequence[str], subject: str, body: str) -> None:
    """One email through the SMTP server ``smtp_url``; raises ``OSError`` or
    ``smtplib.SMTPException`` on failure."""
    parts = urlsplit(smtp_url)
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = subject, sender, ", ".join(to)
    mail.set_content(body)
    smtp_class = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
    with smtp_class(parts.hostname or "localhost", parts.port or 25, timeout=15) as smtp:
        if parts.username:
            smtp.login(unquote(parts.username), unquote(parts.password or ""))
        smtp.send_message(mail)


def send_event(settings: HostSettings, what: str, status: str, error: str,
               report: str = "") -> list[str]:
    """A ledger or collection event to the configured channels, as a record-like message of
    ids and counts only ("Run 2026...: not collected by every school."); returns the channels
    that took it."""
    report = report or "databook audit verify"
    label = f"Run {what}" if what[:1].isdigit() else what[:1].upper() + what[1:]
    subject = f"Safeguarding databook: {what} {status.upper()}"
    body = "\n".join([f"{label}: {EVENT_WORDS.get(status, status)}.",
                      f"What happened: {error}", f"See: {report}"])
    return deliver(Channels.of(settings), subject, body,
                   {"run_id": what, "status": status, "report": report})


EVENT_WORDS = {"not collected": "not collected by every school"}
