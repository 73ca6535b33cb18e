"""The portal host's settings: ``PortalHostSettings``, on the one loader in ``databook.settings``.

The portal runs on another host with less than the nightly run: the drop (a local, read-only
folder), the council's PUBLIC manifest keys, its own database and state folder (``[portal]``),
and the alert channels; never the keystore's secrets (``master_key`` is read only for the
council-host audit commands that need the keystore, ``audit child`` and ``audit witness``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from databook import settings as loader
from databook.portal_table import SHARED_MAILBOXES, PortalTable
from databook.settings import HostSettings, SettingsError

#: The individual agreement's text the portal ships (``[portal] agreement_file`` replaces it).
DEFAULT_AGREEMENT = Path(__file__).with_name("data") / "agreement.txt"
DEFAULT_PARTNER_AGREEMENT = DEFAULT_AGREEMENT.with_name("partner-agreement.txt")
DEFAULT_AGREEMENT_VERSION = PortalTable.model_fields["agreement_version"].default

__all__ = ["DEFAULT_AGREEMENT", "SHARED_MAILBOXES", "PortalHostSettings", "PortalTable",
           "SettingsError", "agreement_file", "load", "partner_agreement_file"]


class PortalHostSettings(HostSettings):
    """Everything the portal, its commands and the audit commands read."""


def load(overrides: Mapping[str, object] | None = None,
         environ: Mapping[str, str] | None = None) -> PortalHostSettings:
    return loader.load(PortalHostSettings, overrides, environ)


def agreement_file(portal: PortalTable) -> Path:
    return portal.agreement_file or DEFAULT_AGREEMENT


def partner_agreement_file(portal: PortalTable) -> Path:
    """A partner user's own individual agreement (their organisation's cohort, not a school's
    pupils)."""
    return portal.partner_agreement_file or DEFAULT_PARTNER_AGREEMENT


class PortalConfigError(ValueError):
    """A portal command's input cannot be used (a key file, a port); the message names it."""
