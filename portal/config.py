"""The portal's settings: the ``[portal]`` table of ``databook.toml`` and ``DATABOOK_PORTAL_*``.

Kept apart from the nightly run's settings because the portal runs on another host with less:
it needs the drop (read-only) and the council's PUBLIC manifest key, never the keystore or the
master key. Every value is checked here, so a typo is one line naming the setting, not a
traceback from a running service. Standard library only: ``flows.settings`` imports it.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Seed 001's named-addresses rule (Derbyshire): role mailboxes are read by several people.
SHARED_MAILBOXES = ("info", "office", "admin", "enquiries", "enquiry", "head", "headteacher",
                    "school", "reception", "contact", "finance", "bursar", "sendco", "dsl",
                    "safeguarding", "staff", "mail", "hello")
DEFAULT_AGREEMENT = Path(__file__).with_name("data") / "agreement.txt"
DEFAULT_AGREEMENT_VERSION = "1.0"


class PortalConfigError(ValueError):
    """A portal setting cannot be used; the message names it."""


@dataclass(frozen=True)
class PortalSettings:
    database_url: str
    state_dir: Path  # the portal's own secrets (session/CSRF key, TOTP key, ledger key); 0700
    base_url: str  # what users type; the WebAuthn relying party and enrolment links use it
    trusted_proxies: tuple[str, ...] = ()
    cookie_secure: bool = False
    idle_minutes: int = 15
    absolute_hours: int = 8
    lockout_attempts: int = 10
    lockout_minutes: int = 15
    agreement_version: str = DEFAULT_AGREEMENT_VERSION
    agreement_file: Path = DEFAULT_AGREEMENT
    shared_mailboxes: tuple[str, ...] = SHARED_MAILBOXES
    enrolment_hours: int = 72
    public_keys: tuple[Path, ...] = ()  # PEM files of the council's manifest signing keys
    hash_concurrency: int = 2  # password hashes at once per worker (each takes 19 MiB)
    # Governance (portal.registers): the current access-protocol and data-sharing-agreement
    # versions, days a school has to confirm its DSLs each term, and who a refused user rings.
    protocol_version: str = "1.0"
    sharing_agreement_version: str = "1.0"
    dsl_confirmation_days: int = 21
    governance_contact: str = "the council's information governance team"
    # The download ledger (portal.ledger.config): the checkpoints' origin line and the witness's
    # key name (C2SP note names), minutes between checkpoints while entries arrive, the school
    # day ``audit irregular`` holds downloads to (London time), and whether the nightly run
    # witnesses the ledger (false where the nightly host cannot reach the portal database).
    ledger_origin: str = "databook.invalid/portal-ledger"
    ledger_checkpoint_minutes: int = 10
    school_day_start: time = time(7, 0)
    school_day_end: time = time(19, 0)
    ledger_witness_name: str = "databook.invalid/council-witness"
    witness: bool = True
    # Issue 19: the longest an entry may stay outside a signed checkpoint while the portal
    # runs (portal.ledger.tail); ``audit verify`` fails a ledger with an older unsigned tail.
    ledger_tail_seconds: int = 1

    @property
    def rp_id(self) -> str:
        """The WebAuthn relying party: the host users see (browsers refuse IP addresses)."""
        return urlsplit(self.base_url).hostname or "localhost"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def cookie_name(self) -> str:
        """``__Host-`` binds the cookie to this exact host over HTTPS; browsers only accept
        that prefix on a Secure cookie, so the plain-HTTP local demo uses a plain name."""
        return "__Host-databook" if self.cookie_secure else "databook"

    @property
    def pre_cookie_name(self) -> str:
        """The anonymous visitor's CSRF binding, ``__Host-`` prefixed like the session's: a
        sibling host cannot plant one (issue 19)."""
        return "__Host-databook_pre" if self.cookie_secure else "databook_pre"

    @property
    def trusted_keys_dir(self) -> Path:
        return self.state_dir / "trusted-keys"


ENV = {
    "DATABOOK_PORTAL_DATABASE_URL": "database_url",
    "DATABOOK_PORTAL_STATE_DIR": "state_dir",
    "DATABOOK_PORTAL_BASE_URL": "base_url",
    "DATABOOK_PORTAL_TRUSTED_PROXIES": "trusted_proxies",
    "DATABOOK_PORTAL_COOKIE_SECURE": "cookie_secure",
    "DATABOOK_PORTAL_IDLE_MINUTES": "idle_minutes",
    "DATABOOK_PORTAL_ABSOLUTE_HOURS": "absolute_hours",
    "DATABOOK_PORTAL_LOCKOUT_ATTEMPTS": "lockout_attempts",
    "DATABOOK_PORTAL_LOCKOUT_MINUTES": "lockout_minutes",
    "DATABOOK_PORTAL_AGREEMENT_VERSION": "agreement_version",
    "DATABOOK_PORTAL_AGREEMENT_FILE": "agreement_file",
    "DATABOOK_PORTAL_SHARED_MAILBOXES": "shared_mailboxes",
    "DATABOOK_PORTAL_ENROLMENT_HOURS": "enrolment_hours",
    "DATABOOK_PORTAL_PUBLIC_KEYS": "public_keys",
    "DATABOOK_PORTAL_HASH_CONCURRENCY": "hash_concurrency",
    "DATABOOK_PORTAL_PROTOCOL_VERSION": "protocol_version",
    "DATABOOK_PORTAL_SHARING_AGREEMENT_VERSION": "sharing_agreement_version",
    "DATABOOK_PORTAL_DSL_CONFIRMATION_DAYS": "dsl_confirmation_days",
    "DATABOOK_PORTAL_GOVERNANCE_CONTACT": "governance_contact",
    "DATABOOK_PORTAL_LEDGER_ORIGIN": "ledger_origin",
    "DATABOOK_PORTAL_LEDGER_CHECKPOINT_MINUTES": "ledger_checkpoint_minutes",
    "DATABOOK_PORTAL_SCHOOL_DAY_START": "school_day_start",
    "DATABOOK_PORTAL_SCHOOL_DAY_END": "school_day_end",
    "DATABOOK_PORTAL_LEDGER_WITNESS_NAME": "ledger_witness_name",
    "DATABOOK_PORTAL_WITNESS": "witness",
    "DATABOOK_PORTAL_LEDGER_TAIL_SECONDS": "ledger_tail_seconds",
}
_NUMBERS = {"idle_minutes": 24 * 60, "absolute_hours": 24 * 7, "lockout_attempts": 1000,
            "lockout_minutes": 24 * 60, "enrolment_hours": 24 * 30, "hash_concurrency": 64,
            "dsl_confirmation_days": 365, "ledger_checkpoint_minutes": 24 * 60,
            "ledger_tail_seconds": 600}
_LISTS = ("trusted_proxies", "shared_mailboxes", "public_keys")


def _number(key: str, raw: Any) -> int:
    try:
        value = int(str(raw).strip()) if not isinstance(raw, bool) else 0
    except ValueError:
        value = 0
    if not 1 <= value <= _NUMBERS[key]:
        raise PortalConfigError(f"portal setting {key} must be a whole number from 1 to "
                                f"{_NUMBERS[key]}")
    return value


def _flag(raw: Any, key: str = "cookie_secure") -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise PortalConfigError(f"portal setting {key} must be true or false")


def _items(key: str, raw: Any) -> tuple[str, ...]:
    parts = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(parts, list | tuple) or not all(isinstance(p, str) for p in parts):
        raise PortalConfigError(f"portal setting {key} must be a list of text")
    return tuple(p.strip() for p in parts if p.strip())


def _check_proxies(proxies: tuple[str, ...]) -> None:
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise PortalConfigError(f"portal setting trusted_proxies: {proxy!r} is not an IP "
                                    "address or network") from None


def _check_url(base_url: str) -> None:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise PortalConfigError("portal setting base_url must be like https://portal.example.org "
                                "(scheme and host, no path)")


def load_portal(table: Any, environ: Mapping[str, str], home: Path) -> PortalSettings:
    """Defaults under ``home/portal``, then the ``[portal]`` table, then the environment."""
    if not isinstance(table, Mapping):
        raise PortalConfigError("[portal] must be a table")
    known = set(ENV.values())
    for key in table:
        if key not in known:
            raise PortalConfigError(f"unknown setting [portal].{key}")
    raw: dict[str, Any] = dict(table)
    raw.update({key: environ[name] for name, key in ENV.items() if environ.get(name)})
    state = Path(str(raw.get("state_dir", home / "portal" / "state"))).expanduser().resolve()
    base_url = str(raw.get("base_url", "http://localhost:8000")).rstrip("/")
    _check_url(base_url)
    values: dict[str, Any] = {
        "database_url": str(raw.get("database_url",
                                    f"sqlite:///{home / 'portal' / 'portal.sqlite'}")),
        "state_dir": state,
        "base_url": base_url,
        "cookie_secure": _flag(raw.get("cookie_secure", base_url.startswith("https://"))),
    }
    for key in _NUMBERS:
        if key in raw:
            values[key] = _number(key, raw[key])
    for key in _LISTS:
        if key in raw:
            values[key] = _items(key, raw[key])
    _check_proxies(values.get("trusted_proxies", ()))
    if "shared_mailboxes" in values:
        values["shared_mailboxes"] = tuple(m.lower().rstrip("@") for m in
                                           values["shared_mailboxes"])
    if "public_keys" in values:
        values["public_keys"] = tuple(Path(p).expanduser() for p in values["public_keys"])
    if "agreement_version" in raw:
        version = str(raw["agreement_version"]).strip()
        if not version or len(version) > 40:
            raise PortalConfigError("portal setting agreement_version must be short text, "
                                    "like 1.1")
        values["agreement_version"] = version
    if "agreement_file" in raw:
        values["agreement_file"] = Path(str(raw["agreement_file"])).expanduser()
        if not values["agreement_file"].is_file():
            raise PortalConfigError(f"portal setting agreement_file: "
                                    f"{values['agreement_file']} does not exist")
    values.update(_governance(raw))
    values.update(_ledger(raw))
    return PortalSettings(**values)


def _governance(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The register's versions compare by number (portal.registers.rules), so only dotted
    numbers are accepted; the contact is shown on a refused download's page."""
    values: dict[str, Any] = {}
    for key in ("protocol_version", "sharing_agreement_version"):
        if key in raw:
            version = str(raw[key]).strip()
            if not re.fullmatch(r"\d{1,6}(\.\d{1,6}){0,3}", version):
                raise PortalConfigError(f"portal setting {key} must be a version like 1.0")
            values[key] = version
    if "governance_contact" in raw:
        contact = str(raw["governance_contact"]).strip()
        if not contact or len(contact) > 200:
            raise PortalConfigError("portal setting governance_contact must be short text, "
                                    "like the Service Desk on 01629 537777")
        values["governance_contact"] = contact
    return values


def _clock(key: str, raw: Any) -> time:
    text = raw.strftime("%H:%M") if isinstance(raw, time) else str(raw).strip()
    if not re.fullmatch(r"\d{2}:\d{2}", text):
        raise PortalConfigError(f"portal setting {key} must be a time like 07:00")
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise PortalConfigError(f"portal setting {key} must be a time like 07:00") from None


def _ledger(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Names go into every checkpoint and cosignature line, which C2SP signed notes allow only
    without spaces or '+'; the school day must be a span within one day."""
    values: dict[str, Any] = {}
    for key in ("ledger_origin", "ledger_witness_name"):
        if key in raw:
            name = str(raw[key]).strip()
            if not re.fullmatch(r"[\x21-\x2a\x2c-\x7e]{1,100}", name):
                raise PortalConfigError(f"portal setting {key} must be a name like "
                                        "council.example/databook-ledger (no spaces or '+')")
            values[key] = name
    for key in ("school_day_start", "school_day_end"):
        if key in raw:
            values[key] = _clock(key, raw[key])
    start = values.get("school_day_start", PortalSettings.school_day_start)
    if values.get("school_day_end", PortalSettings.school_day_end) <= start:
        raise PortalConfigError("portal setting school_day_end must be after school_day_start")
    if "witness" in raw:
        values["witness"] = _flag(raw["witness"], "witness")
    return values


def private_dir(path: Path) -> Path:
    """Make (or tighten) a folder only the portal's own user can read."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path
