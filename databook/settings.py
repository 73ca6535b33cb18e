"""One loader for both hosts' settings: safe defaults, then ``databook.toml``, then environment
variables, then command-line options, each overriding the one before.

Each host has one typed settings class (``flows.settings.NightlySettings``,
``portal.config.PortalHostSettings``), a pydantic-settings model built on ``HostSettings`` here.
Values come only from the sources this module reads, in that order, because the product's
documented interface is ``databook.toml`` (with its ``[portal]``, ``[rules]``, ``[drift]`` and
``[school_alerts]`` tables) and ``DATABOOK_*`` variables, and because a bad value must stop
every command with ONE line that names the setting and where it came from (the file, or the
variable), which needs to know each value's source.

Connection URLs (which may hold passwords) and the master key are read here, inside the
process; the master key is never read from a file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from databook.portal_table import PortalTable, items
from databook.store import DropStore, LocalStore

DEFAULT_HOME = ".databook"
#: The nightly host's keystore in ``$DATABOOK_HOME`` (``publish.keystore``): a host that has it
#: is the council's, and trusts the keystore's manifest keys.
KEYSTORE_FILE = "keystore.fernet"
#: Top-level TOML keys a file may never set (a secret belongs to the environment only).
ENVIRONMENT_ONLY = frozenset({"master_key"})
#: Keys of a TOML table a file may never set, for the same reason.
TABLE_ENVIRONMENT_ONLY = frozenset({("portal", "oidc_client_secret")})


#: ``databook demo`` leaves this file in the home it fills with synthetic data; commands that
#: reset users to printed demo credentials (``databook portal demo``) run only where it is.
DEMO_MARK = "made-by-databook-demo"

class SettingsError(Exception):
    """The configuration cannot be used; the message is one line naming the setting and the
    file or variable it came from."""


def _text(value: Any) -> Any:
    """Numbers and booleans in a TOML file are not text: ``source_url = 5`` is a mistake."""
    if value is not None and not isinstance(value, str):
        raise ValueError("must be text")
    return value


Text = Annotated[str, BeforeValidator(_text)]
OptionalText = Annotated[str | None, BeforeValidator(_text)]


class HostSettings(BaseSettings):
    """What both hosts read: where state lives, the drop, the sources the audit reads, the
    alert channels and the ``[portal]`` table (the nightly run witnesses the portal's ledger)."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_default=True)

    # Descriptions are the settings reference (docs/reference/settings.md is generated from
    # them); ``shown_default`` says what a default computed at load time is.
    home: Path = Field(description="where state lives: keystore, run records, demo data")
    source_url: Text = Field(default="", description=(
        "SQLAlchemy URL of the case database (Mosaic's data mart)"),
        json_schema_extra={"shown_default": "the demo case database"})
    roll_url: Text = Field(default="", description="SQLAlchemy URL of the school rolls",
                           json_schema_extra={"shown_default": "the demo school roll"})
    drop: Text = Field(default="", description=(  # a local folder or an sftp:// URL
        "where runs are published: a local folder, or an sftp:// URL"),
        json_schema_extra={"shown_default": "$DATABOOK_HOME/drop"})
    master_key: OptionalText = Field(default=None, repr=False, description=(
        "the key that encrypts the keystore; from the environment only, never a file"),
        json_schema_extra={"shown_default": "$DATABOOK_HOME/master.key, generated for the demo"})
    sftp_key: OptionalText = Field(default=None, description="SSH private key for an sftp:// drop")
    sftp_known_hosts: OptionalText = Field(default=None, description=(
        "known-hosts file holding the SFTP server's key (checked, never learnt)"),
        json_schema_extra={"shown_default": "the system's known hosts"})
    alert_webhook: OptionalText = Field(default=None, description=(
        "URL POSTed a JSON message for a failed or blocked run, a file the portal refused "
        "to serve, or uncollected databooks (Teams, Slack or any receiver)"))
    alert_smtp: OptionalText = Field(default=None, description=(
        "mail server for alerts: smtp://host:port or smtps://user:password@host:port"))
    alert_email_to: OptionalText = Field(default=None, description="address alerts are emailed to")
    alert_email_from: Text = Field(default="databook@localhost", description=(
        "address alerts are emailed from"))
    portal: PortalTable = Field(description="the portal's settings (both hosts read them)")

    #: TOML tables (as opposed to plain keys) this class reads.
    TABLES: ClassVar[frozenset[str]] = frozenset({"portal"})

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """``load`` has already merged the file and the environment (it must know which
        value came from where); nothing else is read behind its back."""
        return (init_settings,)

    @model_validator(mode="before")
    @classmethod
    def _portal_under_home(cls, data: Any) -> Any:
        """The portal's database and state folder default to ``$DATABOOK_HOME/portal``:
        written here once, for both hosts."""
        home = Path(data["home"])
        table = {"database_url": f"sqlite:///{home / 'portal' / 'portal.sqlite'}",
                 "state_dir": home / "portal" / "state", **(data.get("portal") or {})}
        return {**data, "portal": table}

    @field_validator("alert_smtp")
    @classmethod
    def _smtp(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("smtp", "smtps"):
            raise ValueError("must be smtp://host:port or smtps://user:password@host:port")
        return value

    @field_validator("alert_webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _defaults_under_home(self) -> Self:
        """Defaults that depend on ``home`` are written here once, for both hosts."""
        home = self.home
        updates: dict[str, Any] = {}
        if not self.source_url:
            updates["source_url"] = f"sqlite:///{home / 'demo' / 'case.sqlite'}"
        if not self.roll_url:
            updates["roll_url"] = f"sqlite:///{home / 'demo' / 'roll.sqlite'}"
        drop = self.drop or str(home / "drop")
        updates["drop"] = drop if drop.startswith("sftp://") else str(
            Path(drop).expanduser().resolve())
        for key, value in updates.items():
            object.__setattr__(self, key, value)  # frozen: set once, while validating
        return self

    @property
    def demo_dir(self) -> Path:
        return self.home / "demo"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    def local_drop(self) -> DropStore:
        """The drop as a local folder (the portal host mounts it read-only); an ``sftp://``
        drop is the nightly host's (``NightlySettings.open_drop``)."""
        if self.drop.startswith("sftp://"):
            raise SettingsError("this host reads the drop as a local folder; DATABOOK_DROP is "
                                f"{self.drop.split('@')[-1]}")
        return LocalStore(Path(self.drop))

    def open_drop(self) -> DropStore:
        return self.local_drop()

    def missing_portal_database(self) -> str | None:
        """One line when the portal database is a local SQLite file that is not there: on a
        nightly host apart from the portal, the portal's ``DATABOOK_PORTAL_DATABASE_URL`` was
        not given, and partners' files and the ledger witness, which read it, cannot work."""
        url = self.portal.database_url
        if not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).is_file():
            return None
        return (f"there is no portal database at {url.removeprefix('sqlite:///')}: a nightly "
                "host apart from the portal needs the portal's DATABOOK_PORTAL_DATABASE_URL "
                "(partners' files and the ledger witness read it)")

    def alert_channels(self) -> list[str]:
        """The channels configured, so "nobody could be told" is not mistaken for "nobody
        was asked"."""
        return [c for c, on in (("webhook", self.alert_webhook),
                                ("email", self.alert_smtp and self.alert_email_to)) if on]


S = TypeVar("S", bound=HostSettings)


def env_name(path: tuple[str, ...]) -> str:
    """``("portal", "idle_minutes")`` -> ``DATABOOK_PORTAL_IDLE_MINUTES``."""
    return "DATABOOK_" + "_".join(path).upper()


def _env_fields(cls: type[HostSettings]) -> dict[str, tuple[str, ...]]:
    """Every variable a class reads: one per plain field, one per field of its tables."""
    names: dict[str, tuple[str, ...]] = {}
    for name, field in cls.model_fields.items():
        if name == "home":
            continue
        if name in cls.TABLES:
            model = field.annotation
            for sub in getattr(model, "ENV_FIELDS", ()):
                names[env_name((name, sub))] = (name, sub)
        elif name not in getattr(cls, "FILE_ONLY", frozenset()):
            names[env_name((name,))] = (name,)
    return names


def home_of(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("DATABOOK_HOME", DEFAULT_HOME)).expanduser().resolve()


def _read_file(environ: Mapping[str, str], home: Path) -> tuple[Path | None, dict[str, Any]]:
    named = "DATABOOK_CONFIG" in environ
    path = Path(environ.get("DATABOOK_CONFIG", home / "databook.toml"))
    if named and not path.is_file():
        raise SettingsError(f"DATABOOK_CONFIG names {path}, which does not exist")
    if not path.is_file():
        return None, {}
    try:
        return path, tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None


def load(cls: type[S], overrides: Mapping[str, object] | None = None,
         environ: Mapping[str, str] | None = None) -> S:
    """The settings of one host, from the file, the environment and ``overrides`` (command
    line options; ``None`` values are ignored). Raises ``SettingsError`` with one line."""
    env = os.environ if environ is None else environ
    home = home_of(env)
    path, data = _read_file(env, home)
    raw: dict[str, Any] = {}
    where: dict[tuple[str, ...], str] = {}
    for key, value in data.items():
        if key not in cls.model_fields or key in ENVIRONMENT_ONLY or key == "home":
            raise SettingsError(f"unknown setting {key} in {path}")
        if key in cls.TABLES and not isinstance(value, Mapping):
            raise SettingsError(f"[{key}] in {path} must be a table")
        for table, secret in TABLE_ENVIRONMENT_ONLY:
            if key == table and secret in value:
                raise SettingsError(f"[{table}] {secret} in {path}: a secret is read from the "
                                    f"environment only ({'DATABOOK_' + table.upper()}_"
                                    f"{secret.upper()})")
        raw[key] = dict(value) if key in cls.TABLES else value
        where[(key,)] = f"in {path}"
    for name, field_path in _env_fields(cls).items():
        if env.get(name):
            if len(field_path) == 1:
                raw[field_path[0]] = env[name]
            else:
                raw.setdefault(field_path[0], {})[field_path[1]] = env[name]
            where[field_path] = f"set by {name}"
    for key, value in (overrides or {}).items():
        if value is not None:
            raw[key] = value
            where[(key,)] = "given on the command line"
    try:
        return cls(home=home, **raw)
    except ValidationError as exc:
        raise SettingsError(describe(exc, where, path)) from None


def label(loc: tuple[str, ...]) -> str:
    """How README names a setting: a variable for plain ones, ``portal setting X`` and
    ``[rules].X`` for the tables' keys."""
    if loc[0] == "portal" and len(loc) > 1:
        return f"portal setting {loc[1]}"
    if len(loc) > 1:
        return f"[{loc[0]}].{loc[1]}"
    return env_name(loc)


def describe(exc: ValidationError, where: Mapping[tuple[str, ...], str], path: Path | None) -> str:
    """The first problem, as one line: the setting, what is wrong, and where it was set."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(str(part) for part in error["loc"] if not isinstance(part, int))[:2]
    if error["type"] == "extra_forbidden":
        name = f"[{loc[0]}].{loc[1]}" if len(loc) > 1 else loc[0]
        return f"unknown setting {name}" + (f" in {path}" if path else "")
    if "ctx" in error and isinstance(error["ctx"].get("error"), ValueError):
        reason = str(error["ctx"]["error"])
    else:
        reason = f"is not valid ({error['msg'].lower()})"
    source = where.get(loc) or where.get(loc[:1]) or "by default"
    text = f"{label(loc) if loc else 'a setting'} {reason} ({source})"
    return " ".join(text.split())


__all__ = ["KEYSTORE_FILE", "HostSettings", "SettingsError", "env_name", "items", "load"]
