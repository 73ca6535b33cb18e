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

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
    field_validator,
    model_validator,
)

from databook import settings as loader
from databook.clock import TIMEZONE, parse_date, today_in_london
from databook.settings import HostSettings, OptionalText, SettingsError, Text
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
#: What each ``[rules]`` key means (the settings reference is generated from these).
RULE_DESCRIPTIONS: Mapping[str, str] = {
    "starting_point_name": "who a school rings when there is no worker to ring",
    "starting_point_phone": "Starting Point's number, shown in place of a worker's",
    "dv_lookback_months": "months a domestic abuse notification counts for",
    "warning_labels": "warning codes shown as cautions and their labels, in the order shown "
                      "([rules.warning_labels], code = \"label\")",
    "not_disclosed_warning": "the warning a restricted record implies",
    "address_withholding_warnings": "current warnings of these types withhold the address",
    "legal_statuses": "the SSDA903 legal status codes the council uses",
    "respite_legal_statuses": "legal statuses that are short breaks (respite care)",
    "respite_counts_as_looked_after": "whether a period of care of short breaks alone makes a "
                                      "child looked after",
    "publishable_number_types": "telephone number types a school may be given, in order of "
                                "preference after the primary one",
    "dv_notification_types": "police notification types that count as domestic abuse",
    "on_roll_statuses": "enrolment statuses that put a pupil on roll",
    "enrolment_statuses": "every enrolment status the roll may hold",
}
#: ``[rules]``: every field of ``Rules`` but the as-at date, with the same defaults.
RulesTable: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "RulesTable", __config__=ConfigDict(extra="forbid", frozen=True),
    **{f.name: (Annotated[Any, BeforeValidator(_rule_check(f.name, _RULE_TYPES[f.name]))],
                Field(default=None, description=RULE_DESCRIPTIONS[f.name]))
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
    county_change: Annotated[float, BeforeValidator(_fraction)] = Field(
        default=Thresholds.county_change, description=(
            "a county-wide count (CP, LAC, CIN, DV, cautions) moving by more than this "
            "fraction since the previous signed run blocks the run"))
    school_loss: Annotated[float, BeforeValidator(_fraction)] = Field(
        default=Thresholds.school_loss, description=(
            "a school losing more than this fraction of its rows blocks the run"))
    school_min_rows: Annotated[int, BeforeValidator(_rows)] = Field(
        default=Thresholds.school_min_rows, description=(
            "schools with fewer rows than this are not judged by school_loss"))


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
        default_factory=lambda: max(1, os.cpu_count() or 1),
        description="workers that render and encrypt the workbooks",
        json_schema_extra={"shown_default": "the number of cores"})
    keep_runs: Annotated[int, BeforeValidator(_at_least_one)] = Field(default=14, description=(
        "runs kept in the drop; older ones are deleted, their files overwritten first"))
    keep_run_records: Annotated[int, BeforeValidator(_at_least_one)] | None = Field(
        default=None, description=(
            "run records kept in $DATABOOK_HOME/runs (findings, report, log, Data Docs, and "
            "their findings history); unset: as many as keep_runs"))
    protective_marking: Annotated[str, BeforeValidator(_marking)] = Field(
        default="OFFICIAL-SENSITIVE", description=(
            "the protective marking on every workbook's printed pages, About sheet and "
            "document properties"))
    #: Seconds to wait before each retry of a dropped database connection.
    retry_delays: Annotated[tuple[int, ...], BeforeValidator(_delays)] = Field(
        default=(10, 60), description=(
            "seconds before each retry of a dropped database connection, like 10,60"))
    runs_database_url: Text = Field(default="", description=(
        "the nightly host's database of runs (the findings history and the accepted-finding "
        "register); empty: sqlite:///$DATABOOK_HOME/runs/runs.sqlite"))
    data_quality_webhook: OptionalText = Field(default=None, description=(
        "the data-quality team's webhook for the weekly summary; when neither this nor "
        "data_quality_email_to is set, the summary goes to the alert channels"))
    data_quality_email_to: OptionalText = Field(default=None, description=(
        "the data-quality team's e-mail address(es) for the weekly summary"))
    push_drop: Text = Field(default="", description=(
        "the portal host's drop, like sftp://user@portal-host/srv/databook/drop: each signed "
        "run is pushed there after it is published; empty: no push"))
    rules: RulesTable = Field(  # type: ignore[valid-type]
        default_factory=RulesTable, description="what a council codes differently")
    drift: DriftTable = Field(default_factory=DriftTable, description="what blocks a run")
    school_alerts: Annotated[dict[int, SchoolAlert], BeforeValidator(parse_school_alerts)] = Field(
        default_factory=dict, description=(
            "per school, [school_alerts.URN] with email = [...] and/or webhook = \"https://…\": "
            "who to tell when its databook changed (URN, school name and time only)"))

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

    @field_validator("data_quality_webhook")
    @classmethod
    def _dq_webhook(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @property
    def runs_database(self) -> str:
        """The database of runs' URL (the default under ``$DATABOOK_HOME/runs``)."""
        return self.runs_database_url or f"sqlite:///{self.runs_dir / 'runs.sqlite'}"

    @property
    def run_records_kept(self) -> int:
        return self.keep_run_records or self.keep_runs

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(**self.drift.model_dump())

    def open_drop(self) -> DropStore:
        """The drop: a local folder, or an SFTP server (``publish.sftp``)."""
        from publish.sftp import open_store  # paramiko, for an sftp:// drop

        return open_store(self.drop, key_file=self.sftp_key, known_hosts=self.sftp_known_hosts)

    def open_push_drop(self) -> DropStore | None:
        """The portal host's drop this host pushes to, or None when none is configured."""
        if not self.push_drop:
            return None
        from publish.sftp import open_store

        return open_store(self.push_drop, key_file=self.sftp_key,
                          known_hosts=self.sftp_known_hosts)

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
