"""One settings object: safe demo defaults, then ``databook.toml``, then environment variables,
then command-line options, each overriding the one before.

Connection URLs (which may hold passwords) and the master key are read here, inside the
process, and never passed to Prefect as flow parameters, so they are never stored by it.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from typing import Any, get_origin, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from expectations.drift import Thresholds
from extract.queries import ExtractFilters
from flows.school_alerts import SchoolAlert, SchoolAlertError
from flows.school_alerts import parse as parse_school_alerts
from portal.config import PortalConfigError, PortalSettings, load_portal
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
    portal: PortalSettings | None = None  # the [portal] table (portal/config.py)
    #: The [school_alerts] table: whom to tell when a school's databook changed, by URN.
    school_alerts: Mapping[int, SchoolAlert] = field(default_factory=dict)

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
_RULE_TYPES = {k: v for k, v in get_type_hints(Rules).items() if k in _RULE_KEYS}
_DRIFT_KEYS = {f.name for f in fields(Thresholds)}
_TEXT_KEYS = {"source_url", "roll_url", "drop", "sftp_key", "sftp_known_hosts", "alert_webhook",
              "alert_smtp", "alert_email_to", "alert_email_from"}
_LISTS_AS_SETS = {"address_withholding_warnings", "legal_statuses", "respite_legal_statuses",
                  "dv_notification_types", "on_roll_statuses", "enrolment_statuses"}


def _rule_value(key: str, value: Any, source: Path) -> Any:
    """One ``[rules]`` value, checked against the type ``Rules`` declares: a council's typo
    (``dv_lookback_months = "twelve"``, a bare string where a list belongs) is named here, not
    found as a traceback half-way through a run."""
    where = f"[rules].{key} in {source}"
    kind = _RULE_TYPES[key]
    if kind is bool:
        if not isinstance(value, bool):
            raise SettingsError(f"{where} must be true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 1200:
            raise SettingsError(f"{where} must be a whole number from 1 to 1200")
        return value
    if kind is str:
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{where} must be non-empty text")
        return value
    if key == "warning_labels":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise SettingsError(f"{where} must be a table of code = \"label\"")
        return {str(k).upper(): v for k, v in value.items()}
    if get_origin(kind) not in (frozenset, tuple):
        return value  # a kind of rule this check does not know yet: Rules itself decides
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise SettingsError(f"{where} must be a list of codes, like [\"A\", \"B\"]")
    codes = [v.strip().upper() for v in value]
    return frozenset(codes) if key in _LISTS_AS_SETS else tuple(codes)


def _rules_from_toml(table: Mapping[str, Any], source: Path) -> dict[str, Any]:
    if not isinstance(table, Mapping):
        raise SettingsError(f"[rules] in {source} must be a table")
    rules: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _RULE_KEYS:
            raise SettingsError(f"unknown setting [rules].{key} in {source}")
        rules[key] = _rule_value(key, value, source)
    try:
        Rules(as_at=date.today(), **rules)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"[rules] in {source}: {exc}") from None
    return rules


def _drift_from_toml(table: Any, source: Path) -> Thresholds:
    if not isinstance(table, Mapping):
        raise SettingsError(f"[drift] in {source} must be a table")
    for key, value in table.items():
        if key not in _DRIFT_KEYS:
            raise SettingsError(f"unknown setting [drift].{key} in {source}")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if key == "school_min_rows":
            if not (number and isinstance(value, int) and value >= 0):
                raise SettingsError(f"[drift].{key} in {source} must be a whole number >= 0")
        elif not (number and math.isfinite(value) and 0 <= value <= 1):
            raise SettingsError(f"[drift].{key} in {source} must be a fraction from 0 to 1")
    return Thresholds(**table)


def _whole(values: dict[str, Any], key: str, name: str) -> int:
    raw = values.get(key, getattr(Settings, key))
    try:
        number = int(str(raw).strip()) if not isinstance(raw, bool) else None
    except ValueError:
        number = None
    if number is None or number < 1:
        raise SettingsError(f"{name} must be a whole number of at least 1")
    return number


def _delays(raw: Any) -> tuple[int, ...]:
    try:
        parts = raw.split(",") if isinstance(raw, str) else list(raw)
        delays = tuple(int(str(s).strip()) for s in parts if str(s).strip())
    except (TypeError, ValueError):
        delays = (-1,)
    if any(d < 0 for d in delays):
        raise SettingsError("DATABOOK_RETRY_DELAYS must be whole seconds, like 10,60")
    return delays


def _check_text(values: dict[str, Any]) -> None:
    """Every plain setting is text, and the URLs have a scheme the product can use."""
    for key, value in values.items():
        if key in _TEXT_KEYS and not isinstance(value, str):
            raise SettingsError(f"the setting {key} must be text")
    smtp = values.get("alert_smtp")
    if smtp and urlsplit(smtp).scheme not in ("smtp", "smtps"):
        raise SettingsError("DATABOOK_ALERT_SMTP must be smtp://host:port or "
                            "smtps://user:password@host:port")
    hook = values.get("alert_webhook")
    if hook and urlsplit(hook).scheme not in ("http", "https"):
        raise SettingsError("DATABOOK_ALERT_WEBHOOK must be an http:// or https:// URL")


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
            elif key == "portal":
                values["portal"] = value
            elif key == "drift":
                values["drift"] = _drift_from_toml(value, config)
            elif key == "school_alerts":
                try:
                    values["school_alerts"] = parse_school_alerts(value, config)
                except SchoolAlertError as exc:
                    raise SettingsError(str(exc)) from None
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
    if "retry_delays" in values:
        values["retry_delays"] = _delays(values["retry_delays"])
    values["publish_workers"] = _whole(values, "publish_workers", "DATABOOK_PUBLISH_WORKERS")
    values["keep_runs"] = _whole(values, "keep_runs", "DATABOOK_KEEP_RUNS")
    _check_text(values)
    try:
        values["portal"] = load_portal(values.get("portal", {}), env, home)
    except PortalConfigError as exc:
        raise SettingsError(str(exc)) from None
    return Settings(home=home, **values)

