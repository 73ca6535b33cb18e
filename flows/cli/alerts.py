"""``databook alerts``: alerts that live on the Prefect server (late runs)."""

from __future__ import annotations

import argparse
import os

from flows.settings import SettingsError, load

ERRORS: tuple[type[Exception], ...] = (SettingsError,)


def register(sub: argparse._SubParsersAction) -> None:
    alerting = sub.add_parser("alerts", help="alerts that need the Prefect server")
    alert_sub = alerting.add_subparsers(dest="alerts_command", required=True)
    late = alert_sub.add_parser("install-late", help="create the Prefect automation that posts "
                                "to the webhook when a nightly run is late")
    late.add_argument("--webhook", help="receiver URL (default: DATABOOK_ALERT_WEBHOOK)")
    late.set_defaults(handler=install_late)


def install_late(args: argparse.Namespace) -> int:
    webhook = args.webhook or load().alert_webhook
    if not webhook:
        raise SettingsError("give --webhook URL or set DATABOOK_ALERT_WEBHOOK")
    if not os.environ.get("PREFECT_API_URL"):
        raise SettingsError("set PREFECT_API_URL to the Prefect server that runs the schedule")
    from flows.automations import install_late_alert

    print(install_late_alert(webhook))
    return 0
