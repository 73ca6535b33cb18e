"""``databook alerts``: the alerts that live on the Prefect server (late, failed and crashed
runs), to the same channels as the alerts a run sends itself."""

from __future__ import annotations

import argparse
import os
import urllib.request

from databook.alerts import Channels
from flows.settings import SettingsError, load

ERRORS: tuple[type[Exception], ...] = (SettingsError,)


def register(sub: argparse._SubParsersAction) -> None:
    alerting = sub.add_parser("alerts", help="alerts that need the Prefect server")
    alert_sub = alerting.add_subparsers(dest="alerts_command", required=True)
    every = alert_sub.add_parser("install", help="create the Prefect automations that alert "
                                 "the MI team when a run is late, failed or crashed (to "
                                 "DATABOOK_ALERT_WEBHOOK and/or DATABOOK_ALERT_SMTP)")
    every.set_defaults(handler=install_all)
    late = alert_sub.add_parser("install-late", help="create the Prefect automation that posts "
                                "to the webhook when a nightly run is late")
    late.add_argument("--webhook", help="receiver URL (default: DATABOOK_ALERT_WEBHOOK)")
    late.set_defaults(handler=install_late)


def prefect_api() -> str:
    """The Prefect server's API URL, checked to answer: an alert installed nowhere is worse
    than none, because the officer believes it is there."""
    url = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not url:
        raise SettingsError("set PREFECT_API_URL to the Prefect server that runs the schedule")
    try:
        urllib.request.urlopen(f"{url}/health", timeout=10).close()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SettingsError(f"cannot reach the Prefect API at {url} ({reason}); start the "
                            "server (make prefect-server) or correct PREFECT_API_URL") from None
    return url


def install_all(args: argparse.Namespace) -> int:
    channels = Channels.of(load())
    if not channels.names():
        raise SettingsError("no alert channel is configured: set DATABOOK_ALERT_WEBHOOK and/or "
                            "DATABOOK_ALERT_SMTP with DATABOOK_ALERT_EMAIL_TO")
    url = prefect_api()
    from flows.automations import install

    for kind, automation_id in install(channels).items():
        print(f"databook-{kind}-run {automation_id}")
    print(f"alerts for late, failed and crashed runs go to {' and '.join(channels.names())} "
          f"(Prefect server {url})")
    return 0


def install_late(args: argparse.Namespace) -> int:
    webhook = args.webhook or load().alert_webhook
    if not webhook:
        raise SettingsError("give --webhook URL or set DATABOOK_ALERT_WEBHOOK")
    prefect_api()
    from flows.automations import install_late_alert

    print(install_late_alert(webhook))
    return 0
