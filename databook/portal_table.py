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

#: The access protocol's named-addresses rule: role mailboxes are read by several people.
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

    database_url: str = Field(
        description="the portal database (PostgreSQL in production: postgresql+psycopg://…)",
        json_schema_extra={"shown_default": "sqlite:///$DATABOOK_HOME/portal/portal.sqlite"},
    )
    # the portal's own secrets; 0700
    state_dir: Annotated[Path, BeforeValidator(_folder)] = Field(
        description="the portal's own keys and trusted public keys (0700)",
        json_schema_extra={"shown_default": "$DATABOOK_HOME/portal/state"},
    )
    base_url: Annotated[str, BeforeValidator(_base_url)] = Field(
        default="http://localhost:8000",
        description=(
            "the address users type; links and the passkey domain use it (browsers refuse "
            "passkeys on an IP address)"
        ),
    )
    trusted_proxies: Annotated[tuple[str, ...], BeforeValidator(_proxies)] = Field(
        default=(),
        description=(
            "addresses or networks of the reverse proxy whose X-Forwarded-* headers are "
            "believed"
        ),
    )
    #: Default: true when ``base_url`` is https:// (then cookies are ``__Host-``, Secure).
    cookie_secure: Annotated[bool, BeforeValidator(flag)] = Field(
        default=False,
        description="Secure, __Host- prefixed cookies",
        json_schema_extra={"shown_default": "true when base_url is https://"},
    )
    idle_minutes: Annotated[int, BeforeValidator(whole(1, 24 * 60))] = Field(
        default=15,
        description="a session ends after this long without a request",
    )
    absolute_hours: Annotated[int, BeforeValidator(whole(1, 24 * 7))] = Field(
        default=8,
        description="a session ends this long after sign-in in any case",
    )
    lockout_attempts: Annotated[int, BeforeValidator(whole(1, 1000))] = Field(
        default=10,
        description=(
            "failed sign-ins for one email address from one client address before that "
            "pair is locked"
        ),
    )
    lockout_minutes: Annotated[int, BeforeValidator(whole(1, 24 * 60))] = Field(
        default=15,
        description="the lockout's window and length",
    )
    agreement_version: Annotated[str, BeforeValidator(_short("1.1", 40))] = Field(
        default="1.0",
        description=(
            "the individual agreement's version; a new one must be accepted before the "
            "next download"
        ),
    )
    #: None: the text the portal ships (``portal/data/agreement.txt``).
    agreement_file: Annotated[Path | None, BeforeValidator(_optional_file)] = Field(
        default=None,
        description="the individual agreement's text",
        json_schema_extra={"shown_default": "the text the portal ships"},
    )
    partner_agreement_file: Annotated[Path | None, BeforeValidator(_optional_file)] = Field(
        default=None,
        description="the partner users' individual agreement's text",
        json_schema_extra={"shown_default": "the partner text the portal ships"},
    )
    contact_name: Annotated[str, BeforeValidator(_short("the Service Desk", 200))] = Field(
        default="the council's information governance team",
        description="whom a refused, signed-out or leaving user contacts (pages print it)",
    )
    contact_phone: Annotated[str, BeforeValidator(_short("01629 537777", 40))] = Field(
        default="", description="the contact's telephone number, printed on those pages")
    contact_email: Annotated[str, BeforeValidator(_short("servicedesk@council.example",
                                                         254))] = Field(
        default="", description="the contact's e-mail address, printed on those pages")
    accessibility_reviewed_on: Annotated[str, BeforeValidator(_short("2026-12-07", 10))] = Field(
        default="2026-12-07",
        description="the day the council last reviewed the accessibility statement (YYYY-MM-DD)",
    )
    shared_mailboxes: Annotated[tuple[str, ...], BeforeValidator(_mailboxes)] = Field(
        default=SHARED_MAILBOXES,
        description="mailbox names refused as a user's email (read by several people)",
    )
    enrolment_hours: Annotated[int, BeforeValidator(whole(1, 24 * 30))] = Field(
        default=72,
        description="how long an enrolment or reset link lasts",
    )
    public_keys: Annotated[tuple[Path, ...], BeforeValidator(_paths)] = Field(
        default=(),
        description=(
            "PEM files of trusted manifest signing keys, besides those added by portal "
            "trust-key"
        ),
    )
    hash_concurrency: Annotated[int, BeforeValidator(whole(1, 64))] = Field(
        default=2,
        description="password hashes at once per worker, on their own lower-priority threads",
    )
    # Governance (portal.registers): current protocol and agreement versions, days a school
    # has to confirm its DSLs each term, and who a refused user rings.
    protocol_version: Annotated[str, BeforeValidator(_version)] = Field(
        default="1.0",
        description="the current access protocol version schools must have signed",
    )
    sharing_agreement_version: Annotated[str, BeforeValidator(_version)] = Field(
        default="1.0",
        description="the current data-sharing agreement version schools must have signed",
    )
    dsl_confirmation_days: Annotated[int, BeforeValidator(whole(1, 365))] = Field(
        default=21,
        description="days a school has to confirm its named DSLs each term",
    )
    governance_contact: Annotated[str, BeforeValidator(_short(
        "the Service Desk on 01629 537777", 200))] = Field(
        default="the council's information governance team",
        description="who a refused user is told to contact",
    )
    #: The council's name, as the portal's header and accessibility statement show it.
    council_name: Annotated[str, BeforeValidator(_name)] = Field(
        default="The council",
        description="the council's name in every page's header and the accessibility statement",
    )
    # The download ledger: checkpoint origin, witness key name (C2SP note names), minutes
    # between checkpoints while entries arrive, the school day ``audit irregular`` holds
    # downloads to (London), and whether the nightly run witnesses the ledger.
    ledger_origin: Annotated[str, BeforeValidator(_note_name)] = Field(
        default="databook.invalid/portal-ledger",
        description="the first line of the ledger's checkpoints (no spaces or +)",
    )
    ledger_checkpoint_minutes: Annotated[int, BeforeValidator(whole(1, 24 * 60))] = Field(
        default=10,
        description="after a POST, a checkpoint at least this often while entries arrive",
    )
    school_day_start: Annotated[time, BeforeValidator(_clock)] = Field(
        default=time(7, 0),
        description="start of the school day (London); audit irregular flags downloads outside it",
    )
    school_day_end: Annotated[time, BeforeValidator(_clock)] = Field(
        default=time(19, 0),
        description="end of the school day (London)",
    )
    ledger_witness_name: Annotated[str, BeforeValidator(_note_name)] = Field(
        default="databook.invalid/council-witness",
        description="the witness key's name in cosignatures",
    )
    witness: Annotated[bool, BeforeValidator(flag)] = Field(
        default=True,
        description=(
            "whether the nightly run co-signs the ledger (false where it cannot reach the "
            "portal database)"
        ),
    )
    #: The longest an entry may stay outside a signed checkpoint while the portal runs
    #: (``databook.ledger.tail``); ``audit verify`` fails a ledger with an older unsigned tail.
    ledger_tail_seconds: Annotated[int, BeforeValidator(whole(1, 600))] = Field(
        default=1,
        description=(
            "the longest an entry may stay outside a signed checkpoint while the portal "
            "runs; audit verify fails an older unsigned tail"
        ),
    )
    # What schools get: "both" (download and look-up), "downloads" or "lookups";
    # and how many look-ups one user may make in an hour (``portal.routers.lookup``).
    school_access: Annotated[str, BeforeValidator(_school_access)] = Field(
        default="both",
        description=(
            "what schools get: both, downloads or lookups; what is not offered answers "
            "404 and is recorded"
        ),
    )
    lookups_per_hour: Annotated[int, BeforeValidator(whole(1, 10_000))] = Field(
        default=60,
        description="look-ups one user may make in any hour, then 429 (recorded)",
    )
    oidc_issuer: Annotated[str, BeforeValidator(_issuer)] = Field(
        default="", description=(
            "the council's OpenID Connect provider for officers' sign-in (blank: off)"))
    oidc_client_id: Annotated[str, BeforeValidator(_optional_text(200))] = Field(
        default="", description="the portal's client id at that provider")
    oidc_client_secret: Annotated[str, BeforeValidator(_optional_text(500))] = Field(
        default="", repr=False, description=(
            "the client secret: only from DATABOOK_PORTAL_OIDC_CLIENT_SECRET, never the file"))
    oidc_scopes: Annotated[str, BeforeValidator(_short("openid email", 200))] = Field(
        default="openid email", description="the scopes asked for")
    oidc_council_group: Annotated[str, BeforeValidator(_optional_text(200))] = Field(
        default="", description="the provider group whose members are council officers here")
    oidc_group_claim: Annotated[str, BeforeValidator(_short("groups", 100))] = Field(
        default="groups", description="the ID-token claim that names the person's groups")
    oidc_mfa_claim: Annotated[str, BeforeValidator(_short("amr", 100))] = Field(
        default="amr", description="the claim asserting multi-factor authentication (amr or acr)")
    oidc_mfa_values: Annotated[tuple[str, ...], BeforeValidator(items)] = Field(
        default=("mfa",), description="the values of that claim that count as MFA")
    oidc_recheck_seconds: Annotated[int, BeforeValidator(whole(2, 3600))] = Field(
        default=300, description=(
            "how often an officer's session goes back through the provider (a disabled "
            "person, or one removed from the group, is refused there)"))
    council_local_signin: Annotated[bool, BeforeValidator(flag)] = Field(
        default=True, description=(
            "council officers may also sign in with a local password and second factor"))

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
        sibling host cannot plant one."""
        return "__Host-databook_pre" if self.cookie_secure else "databook_pre"

    @property
    def trusted_keys_dir(self) -> Path:
        return self.state_dir / "trusted-keys"


PortalTable.ENV_FIELDS = tuple(PortalTable.model_fields)
