"""The nightly host's settings: ``NightlySettings``, on the one loader in ``databook.settings``.

Besides what both hosts read (``databook.settings.HostSettings``): how many workers render,
how many runs the drop keeps, retries of a dropped connection, and the council's tables:
``[rules]`` (what a council codes differently), ``[drift]`` (what blocks a run) and
``[school_alerts]`` (whom to tell when a school's databook changed).

Connection URLs and the master key are read inside the process and are never passed to Prefect
as flow parameters, so Prefect never stores them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from typing import Annotated, Any, ClassVar, get_origin, get_type_hints
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model, model_validator

from databook import settings as loader
from databook.clock import TIMEZONE, parse_date, today_in_london
from databook.settings import HostSettings, SettingsError
from databook.store import DropStore
from expectations.drift import Thresholds
from extract.queries import ExtractFilters
from transform.rules_config import Rules

__all__ = ["TIMEZONE", "NightlySettings", "SchoolAlert", "SettingsError", "load", "parse_as_at",
           "today_in_london"]


@dataclass(frozen=True)
class SchoolAlert:
    """Where to tell one school's DSLs that its databook changed (``[school_alerts.URN]``)."""

    email: tuple[str, ...] = ()
    webhook: str | None = None


def parse_school_alerts(table: Any) -> dict[int, SchoolAlert]:
    """The ``[school_alerts]`` table: URN -> where to tell that school's DSLs."""
    if not isinstance(table, Mapping):
        raise ValueError("must be a table of schools")
    out: dict[int, SchoolAlert] = {}
    for urn, entry in table.items():
        if isinstance(entry, SchoolAlert):
            out[int(urn)] = entry
            continue
        where = f"school_alerts.{urn}"
        if not str(urn).isdigit() or not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected [school_alerts.URN] with email/webhook")
        unknown = set(entry) - {"email", "webhook"}
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        emails = entry.get("email", [])
        if isinstance(emails, str):
            emails = [emails]
        if not isinstance(emails, list) or not all(
                isinstance(e, str) and "@" in e for e in emails):
            raise ValueError(f"{where}: email must be an address or a list of them")
        hook = entry.get("webhook")
        if hook is not None and (not isinstance(hook, str)
                                 or urlsplit(hook).scheme not in ("http", "https")):
            raise ValueError(f"{where}: webhook must be an http:// or https:// URL")
        out[int(urn)] = SchoolAlert(tuple(emails), hook)
    return out


#: Code lists kept as sets (membership) rather than ordered tuples (preference).
_LISTS_AS_SETS = {"address_withholding_warnings", "legal_statuses", "respite_legal_statuses",
                  "dv_notification_types", "on_roll_statuses", "enrolment_statuses"}


def _rule_check(key: str, kind: Any) -> Any:
    """The validator for one ``[rules]`` value, from the type ``Rules`` declares: a council's
    typo (``dv_lookback_months = "twelve"``, a bare string where a list belongs) is named when
    the settings load, not found as a traceback half-way through a run."""
    def check(value: Any) -> Any:
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 1200:
                raise ValueError("must be a whole number from 1 to 1200")
        elif kind is str:
            if not isinstance(value, str) or not value.strip():
                raise ValueError("must be non-empty text")
        elif key == "warning_labels":
            if not isinstance(value, Mapping) or not all(isinstance(v, str)
                                                         for v in value.values()):
                raise ValueError('must be a table of code = "label"')
            return {str(k).upper(): v for k, v in value.items()}
        elif get_origin(kind) in (frozenset, tuple):
            if not isinstance(value, list | tuple | frozenset) or not all(
                    isinstance(v, str) and v.strip() for v in value):
                raise ValueError('must be a list of codes, like ["A", "B"]')
            codes = [v.strip().upper() for v in value]
            return frozenset(codes) if key in _LISTS_AS_SETS else tuple(codes)
        return value
    return check


_RULE_TYPES = {k: v for k, v in get_type_hints(Rules).items() if k != "as_at"}
#: ``[rules]``: every field of ``Rules`` but the as-at date, with the same defaults.
RulesTable: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "RulesTable", __config__=ConfigDict(extra="forbid", frozen=True),
    **{f.name: (Annotated[Any, BeforeValidator(_rule_check(f.name, _RULE_TYPES[f.name]))], None)
       for f in fields(Rules) if f.name != "as_at"})


def _fraction(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value) or not 0 <= value <= 1:
        raise ValueError("must be a fraction from 0 to 1")
    return float(value)


def _rows(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be a whole number >= 0")
    return value


class DriftTable(BaseModel):
    """``[drift]``: what blocks a run (``expectations.drift.Thresholds``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    county_change: Annotated[float, BeforeValidator(_fraction)] = Thresholds.county_change
    school_loss: Annotated[float, BeforeValidator(_fraction)] = Thresholds.school_loss
    school_min_rows: Annotated[int, BeforeValidator(_rows)] = Thresholds.school_min_rows


def _at_least_one(value: Any) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, bool | float) else 0
    except ValueError:
        number = 0
    if number < 1:
        raise ValueError("must be a whole number of at least 1")
    return number


def _delays(raw: Any) -> tuple[int, ...]:
    try:
        parts = raw.split(",") if isinstance(raw, str) else list(raw)
        delays = tuple(int(str(s).strip()) for s in parts if str(s).strip())
    except (TypeError, ValueError):
        delays = (-1,)
    if any(d < 0 for d in delays):
        raise ValueError("must be whole seconds, like 10,60")
    return delays


def _marking(value: Any) -> str:
    """A protective marking: one short line of printable text (it goes in print headers,
    where ``&`` codes are escaped by the writer)."""
    text = str(value).strip() if isinstance(value, str) else ""
    if not text or len(text) > 60 or not text.isprintable():
        raise ValueError("must be one line of printable text, at most 60 characters, "
                         "like OFFICIAL-SENSITIVE")
    return text


class NightlySettings(HostSettings):
    """Everything the nightly run, its commands and its Prefect deployments read."""

    publish_workers: Annotated[int, BeforeValidator(_at_least_one)] = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1))
    keep_runs: Annotated[int, BeforeValidator(_at_least_one)] = 14
    #: On every workbook's printed pages, About sheet and document properties.
    protective_marking: Annotated[str, BeforeValidator(_marking)] = "OFFICIAL-SENSITIVE"
    #: Seconds to wait before each retry of a dropped database connection.
    retry_delays: Annotated[tuple[int, ...], BeforeValidator(_delays)] = (10, 60)
    rules: RulesTable = Field(default_factory=RulesTable)  # type: ignore[valid-type]
    drift: DriftTable = Field(default_factory=DriftTable)
    school_alerts: Annotated[dict[int, SchoolAlert], BeforeValidator(parse_school_alerts)] = Field(
        default_factory=dict)

    TABLES: ClassVar[frozenset[str]] = frozenset({"portal", "rules", "drift", "school_alerts"})
    #: Tables are set in the file only.
    FILE_ONLY: ClassVar[frozenset[str]] = frozenset({"rules", "drift", "school_alerts"})

    @model_validator(mode="after")
    def _rules_hold_together(self) -> NightlySettings:
        try:
            self.rules_for(date.today())
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"[rules]: {exc}") from None
        return self

    def with_county_change(self, fraction: float) -> NightlySettings:
        """The same settings with ``--drift-tolerance`` applied (checked by the pre-flight)."""
        drift = self.drift.model_copy(update={"county_change": fraction})
        return self.model_copy(update={"drift": drift})

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(**self.drift.model_dump())

    def open_drop(self) -> DropStore:
        """The drop: a local folder, or an SFTP server (``publish.sftp``)."""
        from publish.sftp import open_store  # paramiko, for an sftp:// drop

        return open_store(self.drop, key_file=self.sftp_key, known_hosts=self.sftp_known_hosts)

    def rules_for(self, as_at: date) -> Rules:
        table: BaseModel = self.rules
        given = {k: v for k, v in table.model_dump().items() if v is not None}
        return Rules(as_at=as_at, **given)

    def extract_filters(self) -> ExtractFilters:
        rules = self.rules_for(date.today())
        return ExtractFilters(number_types=rules.publishable_number_types,
                              dv_types=rules.dv_notification_types)


def load(overrides: Mapping[str, object] | None = None,
         environ: Mapping[str, str] | None = None) -> NightlySettings:
    return loader.load(NightlySettings, overrides, environ)


def parse_as_at(text: str | None) -> date:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
