"""One settings object: safe demo defaults, then ``databook.toml``, then environment variables,
then command-line options, each overriding the one before.

Connection URLs (which may hold passwords) and the master key are read here, inside the
process, and never passed to Prefect as flow parameters, so they are never stored by it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from expectations.drift import Thresholds
from extract.queries import ExtractFilters
from publish.store import DropStore, open_store
from transform.rules_config import Rules

ENV = {
    "DATABOOK_SOURCE_URL": "source_url",
    "DATABOOK_ROLL_URL": "roll_url",
    "DATABOOK_DROP": "drop",
    "DATABOOK_MASTER_KEY": "master_key",
    "DATABOOK_PUBLISH_WORKERS": "publish_workers",
    "DATABOOK_KEEP_RUNS": "keep_runs",
    "DATABOOK_SFTP_KEY": "sftp_key",
    "DATABOOK_SFTP_KNOWN_HOSTS": "sftp_known_hosts",
    "DATABOOK_RETRY_DELAYS": "retry_delays",
    "DATABOOK_ALERT_WEBHOOK": "alert_webhook",
    "DATABOOK_ALERT_SMTP": "alert_smtp",
    "DATABOOK_ALERT_EMAIL_TO": "alert_email_to",
    "DATABOOK_ALERT_EMAIL_FROM": "alert_email_from",
}
TIMEZONE = "Europe/London"


class SettingsError(Exception):
    """The configuration cannot be used; the message names the setting."""


@dataclass(frozen=True)
class Settings:
    home: Path
    source_url: str
    roll_url: str
    drop: str  # a local folder or an sftp:// URL
    master_key: str | None = field(default=None, repr=False)
    publish_workers: int = max(1, os.cpu_count() or 1)
    keep_runs: int = 14
    sftp_key: str | None = None
    sftp_known_hosts: str | None = None
    drift: Thresholds = field(default_factory=Thresholds)
    #: Seconds to wait before each retry of a dropped database connection.
    retry_delays: tuple[int, ...] = (10, 60)
    alert_webhook: str | None = None  # POSTed a JSON message for a failed or blocked run
    alert_smtp: str | None = None  # smtp://host:port (or smtps://user:password@host:port)
    alert_email_to: str | None = None
    alert_email_from: str = "databook@localhost"
    rules: Mapping[str, Any] = field(default_factory=dict)

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    def open_drop(self) -> DropStore:
        return open_store(self.drop, key_file=self.sftp_key, known_hosts=self.sftp_known_hosts)

    def rules_for(self, as_at: date) -> Rules:
        return Rules(as_at=as_at, **self.rules)

    def extract_filters(self) -> ExtractFilters:
        rules = self.rules_for(date.today())
        return ExtractFilters(number_types=rules.publishable_number_types,
                              dv_types=rules.dv_notification_types)


def today_in_london() -> date:
    return datetime.now(ZoneInfo(TIMEZONE)).date()


def parse_as_at(text: str | None) -> date:
    if not text:
        return today_in_london()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"--as-at must be a date like 2026-11-21, not {text!r}") from None


_RULE_KEYS = {f.name for f in fields(Rules)} - {"as_at"}
_LISTS_AS_SETS = {"address_withholding_warnings", "legal_statuses", "respite_legal_statuses",
                  "dv_notification_types", "on_roll_statuses", "enrolment_statuses"}


def _rules_from_toml(table: Mapping[str, Any], source: Path) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _RULE_KEYS:
            raise SettingsError(f"unknown setting [rules].{key} in {source}")
        if key in _LISTS_AS_SETS:
            value = frozenset(str(v).upper() for v in value)
        elif key == "publishable_number_types":
            value = tuple(str(v).upper() for v in value)
        elif key == "warning_labels":
            value = {str(k).upper(): str(v) for k, v in value.items()}
        rules[key] = value
    try:
        Rules(as_at=date.today(), **rules)
    except TypeError as exc:
        raise SettingsError(f"[rules] in {source}: {exc}") from None
    return rules


def load(overrides: Mapping[str, object] | None = None,
         environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    home = Path(env.get("DATABOOK_HOME", ".databook")).expanduser().resolve()
    values: dict[str, Any] = {
        "source_url": f"sqlite:///{home / 'demo' / 'case.sqlite'}",
        "roll_url": f"sqlite:///{home / 'demo' / 'roll.sqlite'}",
        "drop": str(home / "drop"),
    }
    config = Path(env.get("DATABOOK_CONFIG", home / "databook.toml"))
    if "DATABOOK_CONFIG" in env and not config.is_file():
        raise SettingsError(f"DATABOOK_CONFIG names {config}, which does not exist")
    if config.is_file():
        try:
            data = tomllib.loads(config.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{config} is not valid TOML: {exc}") from None
        for key, value in data.items():
            if key == "rules":
                values["rules"] = _rules_from_toml(value, config)
            elif key == "drift":
                try:
                    values["drift"] = Thresholds(**value)
                except TypeError as exc:
                    raise SettingsError(f"[drift] in {config}: {exc}") from None
            elif key in ENV.values() and key != "master_key":
                values[key] = value
            else:
                raise SettingsError(f"unknown setting {key} in {config}")
    for name, key in ENV.items():
        if env.get(name):
            values[key] = env[name]
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    if not str(values["drop"]).startswith("sftp://"):
        values["drop"] = str(Path(values["drop"]).expanduser().resolve())
    if isinstance(values.get("retry_delays"), str):
        try:
            values["retry_delays"] = tuple(int(s) for s in values["retry_delays"].split(",") if s)
        except ValueError:
            raise SettingsError("DATABOOK_RETRY_DELAYS must be whole seconds, like 10,60") from None
    elif "retry_delays" in values:
        values["retry_delays"] = tuple(int(s) for s in values["retry_delays"])
    for key, name in (("publish_workers", "DATABOOK_PUBLISH_WORKERS"),
                      ("keep_runs", "DATABOOK_KEEP_RUNS")):
        try:
            values[key] = int(values.get(key, getattr(Settings, key)))
        except ValueError:
            raise SettingsError(f"{name} must be a whole number") from None
    if values["keep_runs"] < 1:
        raise SettingsError("DATABOOK_KEEP_RUNS must be at least 1")
    return Settings(home=home, **values)

