"""The ``[portal]`` table of ``databook.toml`` (and ``DATABOOK_PORTAL_*``), typed.

Both hosts read it: the portal for itself, the nightly run to witness the portal's ledger and
to tell the council about uncollected databooks. Every value is checked here, so a typo is
one line naming the setting, not a traceback from a running service.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

#: Seed 001's named-addresses rule (Derbyshire): role mailboxes are read by several people.
SHARED_MAILBOXES = ("info", "office", "admin", "enquiries", "enquiry", "head", "headteacher",
                    "school", "reception", "contact", "finance", "bursar", "sendco", "dsl",
                    "safeguarding", "staff", "mail", "hello")
#: C2SP signed-note names: no spaces and no '+'.
NOTE_NAME = re.compile(r"[\x21-\x2a\x2c-\x7e]{1,100}")


def whole(low: int, high: int) -> Callable[[Any], int]:
    def check(raw: Any) -> int:
        try:
            value = int(str(raw).strip()) if not isinstance(raw, bool | float) else 0
        except ValueError:
            value = 0
        if not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value
    return check


def flag(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def items(raw: Any) -> tuple[str, ...]:
    """A TOML list, or a comma-separated variable."""
    parts = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(parts, list | tuple) or not all(isinstance(p, str) for p in parts):
        raise ValueError("must be a list of text")
    return tuple(p.strip() for p in parts if p.strip())


def _proxies(raw: Any) -> tuple[str, ...]:
    proxies = items(raw)
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ValueError(f"{proxy!r} is not an IP address or network") from None
    return proxies


def _base_url(raw: Any) -> str:
    url = str(raw).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
        raise ValueError("must be like https://portal.example.org (scheme and host, no path)")
    return url


def _short(example: str, limit: int) -> Callable[[Any], str]:
    def check(raw: Any) -> str:
        text = str(raw).strip()
        if not text or len(text) > limit:
            raise ValueError(f"must be short text, like {example}")
        return text
    return check


def _name(raw: Any) -> str:
    name = " ".join(str(raw).split())
    if not name or len(name) > 100:
        raise ValueError("must be short text, like Derbyshire County Council")
    return name


SCHOOL_ACCESS = ("both", "downloads", "lookups")


def _issuer(raw: Any) -> str:
    """An OpenID provider's issuer: https (http only for this machine, in tests), no query."""
    url = str(raw).strip().rstrip("/")
    if not url:
        return ""
    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (parts.scheme != "https" and not (parts.scheme == "http" and local)) or not parts.hostname \
            or parts.query or parts.fragment:
        raise ValueError("must be the provider's https:// issuer URL, like "
                         "https://login.microsoftonline.com/TENANT-ID/v2.0")
    return url


def _optional_text(limit: int) -> Callable[[Any], str]:
    def check(raw: Any) -> str:
        text = str(raw).strip()
        if len(text) > limit or not text.isprintable():
            raise ValueError(f"must be one line of at most {limit} characters")
        return text
    return check


def _school_access(raw: Any) -> str:
    access = str(raw).strip().lower()
    if access not in SCHOOL_ACCESS:
        raise ValueError("must be one of: both, downloads, lookups")
    return access


def _version(raw: Any) -> str:
    """Register versions compare by number (``portal.registers.rules``)."""
    text = str(raw).strip()
    if not re.fullmatch(r"\d{1,6}(\.\d{1,6}){0,3}", text):
        raise ValueError("must be a version like 1.0")
    return text


def _note_name(raw: Any) -> str:
    text = str(raw).strip()
    if not NOTE_NAME.fullmatch(text):
        raise ValueError("must be a name like council.example/databook-ledger (no spaces or '+')")
    return text


def _clock(raw: Any) -> time:
    text = raw.strftime("%H:%M") if isinstance(raw, time) else str(raw).strip()
    try:
        if re.fullmatch(r"\d{2}:\d{2}", text):
            return time.fromisoformat(text)
    except ValueError:
        pass
    raise ValueError("must be a time like 07:00")


def _mailboxes(raw: Any) -> tuple[str, ...]:
    return tuple(m.lower().rstrip("@") for m in items(raw))


def _paths(raw: Any) -> tuple[Path, ...]:
    return tuple(Path(p).expanduser() for p in items(raw))


def _existing_file(raw: Any) -> Path:
    path = Path(str(raw)).expanduser()
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    return path


def _folder(raw: Any) -> Path:
    return Path(str(raw)).expanduser().resolve()


def _optional_file(raw: Any) -> Path | None:
    return None if raw in (None, "") else _existing_file(raw)


class PortalTable(BaseModel):
    """``[portal]``: defaults written once, here, except the two that live under
    ``$DATABOOK_HOME`` (``databook.settings.HostSettings`` gives those)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str
    state_dir: Annotated[Path, BeforeValidator(_folder)]  # the portal's own secrets; 0700
    base_url: Annotated[str, BeforeValidator(_base_url)] = "http://localhost:8000"
    trusted_proxies: Annotated[tuple[str, ...], BeforeValidator(_proxies)] = ()
    #: Default: true when ``base_url`` is https:// (then cookies are ``__Host-``, Secure).
    cookie_secure: Annotated[bool, BeforeValidator(flag)] = False
    idle_minutes: Annotated[int, BeforeValidator(whole(1, 24 * 60))] = 15
    absolute_hours: Annotated[int, BeforeValidator(whole(1, 24 * 7))] = 8
    lockout_attempts: Annotated[int, BeforeValidator(whole(1, 1000))] = 10
    lockout_minutes: Annotated[int, BeforeValidator(whole(1, 24 * 60))] = 15
    agreement_version: Annotated[str, BeforeValidator(_short("1.1", 40))] = "1.0"
    #: None: the text the portal ships (``portal/data/agreement.txt``).
    agreement_file: Annotated[Path | None, BeforeValidator(_optional_file)] = None
    shared_mailboxes: Annotated[tuple[str, ...], BeforeValidator(_mailboxes)] = SHARED_MAILBOXES
    enrolment_hours: Annotated[int, BeforeValidator(whole(1, 24 * 30))] = 72
    public_keys: Annotated[tuple[Path, ...], BeforeValidator(_paths)] = ()
    hash_concurrency: Annotated[int, BeforeValidator(whole(1, 64))] = 2
    # Governance (portal.registers): current protocol and agreement versions, days a school
    # has to confirm its DSLs each term, and who a refused user rings.
    protocol_version: Annotated[str, BeforeValidator(_version)] = "1.0"
    sharing_agreement_version: Annotated[str, BeforeValidator(_version)] = "1.0"
    dsl_confirmation_days: Annotated[int, BeforeValidator(whole(1, 365))] = 21
    governance_contact: Annotated[str, BeforeValidator(_short(
        "the Service Desk on 01629 537777", 200))] = "the council's information governance team"
    #: The council's name, as the portal's header and accessibility statement show it.
    council_name: Annotated[str, BeforeValidator(_name)] = "The council"
    # The download ledger: checkpoint origin, witness key name (C2SP note names), minutes
    # between checkpoints while entries arrive, the school day ``audit irregular`` holds
    # downloads to (London), and whether the nightly run witnesses the ledger.
    ledger_origin: Annotated[str, BeforeValidator(_note_name)] = "databook.invalid/portal-ledger"
    ledger_checkpoint_minutes: Annotated[int, BeforeValidator(whole(1, 24 * 60))] = 10
    school_day_start: Annotated[time, BeforeValidator(_clock)] = time(7, 0)
    school_day_end: Annotated[time, BeforeValidator(_clock)] = time(19, 0)
    ledger_witness_name: Annotated[str, BeforeValidator(_note_name)] = (
        "databook.invalid/council-witness")
    witness: Annotated[bool, BeforeValidator(flag)] = True
    #: The longest an entry may stay outside a signed checkpoint while the portal runs
    #: (``databook.ledger.tail``); ``audit verify`` fails a ledger with an older unsigned tail.
    ledger_tail_seconds: Annotated[int, BeforeValidator(whole(1, 600))] = 1
    # What schools get (issue 21): "both" (download and look-up), "downloads" or "lookups";
    # and how many look-ups one user may make in an hour (``portal.routers.lookup``).
    school_access: Annotated[str, BeforeValidator(_school_access)] = "both"
    lookups_per_hour: Annotated[int, BeforeValidator(whole(1, 10_000))] = 60
    # Council officers signing in through the council's OpenID Connect provider (blank
    # issuer: off). The client secret belongs in DATABOOK_PORTAL_OIDC_CLIENT_SECRET.
    oidc_issuer: Annotated[str, BeforeValidator(_issuer)] = ""
    oidc_client_id: Annotated[str, BeforeValidator(_optional_text(200))] = ""
    oidc_client_secret: Annotated[str, BeforeValidator(_optional_text(500))] = Field(
        default="", repr=False)
    oidc_scopes: Annotated[str, BeforeValidator(_short("openid email", 200))] = "openid email"
    #: The provider group whose members are council officers here, and the claim naming it.
    oidc_council_group: Annotated[str, BeforeValidator(_optional_text(200))] = ""
    oidc_group_claim: Annotated[str, BeforeValidator(_short("groups", 100))] = "groups"
    #: The claim asserting multi-factor authentication (``amr`` or ``acr``) and the values
    #: that count as MFA.
    oidc_mfa_claim: Annotated[str, BeforeValidator(_short("amr", 100))] = "amr"
    oidc_mfa_values: Annotated[tuple[str, ...], BeforeValidator(items)] = ("mfa",)
    #: How often an officer's session goes back through the provider (a disabled person, or
    #: one removed from the group, is refused there).
    oidc_recheck_seconds: Annotated[int, BeforeValidator(whole(2, 3600))] = 300
    #: Council officers may also sign in with a local password and second factor.
    council_local_signin: Annotated[bool, BeforeValidator(flag)] = True

    #: Every key may also be set by ``DATABOOK_PORTAL_<KEY>``.
    ENV_FIELDS: ClassVar[tuple[str, ...]] = ()  # filled in below

    @model_validator(mode="before")
    @classmethod
    def _secure_over_https(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("cookie_secure") in (None, ""):
            data = {**data, "cookie_secure": str(data.get("base_url", "")).startswith("https")}
        return data

    @model_validator(mode="after")
    def _oidc_complete(self) -> Self:
        if self.oidc_issuer and not (self.oidc_client_id and self.oidc_council_group):
            raise ValueError("oidc_issuer needs oidc_client_id and oidc_council_group too")
        if not self.oidc_issuer and not self.council_local_signin:
            raise ValueError("council_local_signin = false needs oidc_issuer (officers must "
                             "be able to sign in somehow)")
        return self

    @model_validator(mode="after")
    def _school_day(self) -> Self:
        if self.school_day_end <= self.school_day_start:
            raise ValueError("school_day_end must be after school_day_start")
        return self

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


PortalTable.ENV_FIELDS = tuple(PortalTable.model_fields)
