"""The governance settings in ``[portal]``: versions compare by number, so only numbers pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.config import PortalHostSettings, SettingsError, load
from portal.registers.config import policy


def settings_with(home: Path, table: dict[str, object],
                  env: dict[str, str] | None = None) -> PortalHostSettings:
    lines = ["[portal]"] + [f"{k} = {v!r}" if isinstance(v, str) else f"{k} = {v}"
                            for k, v in table.items()]
    (home / "databook.toml").write_text("\n".join(lines).replace("'", '"') + "\n")
    return load(environ={"DATABOOK_HOME": str(home), **(env or {})})


def test_governance_keys_from_toml_then_environment(tmp_path: Path) -> None:
    table = {"protocol_version": "2.0", "sharing_agreement_version": "3.1",
             "dsl_confirmation_days": 10, "governance_contact": "the Service Desk"}
    env = {"DATABOOK_PORTAL_DSL_CONFIRMATION_DAYS": "30"}
    found = policy(settings_with(tmp_path, table, env))
    assert (found.versions.protocol, found.versions.agreement) == ("2.0", "3.1")
    assert (found.confirmation_days, found.contact) == (30, "the Service Desk")


@pytest.mark.parametrize(("table", "message"), [
    ({"protocol_version": "v2"}, "protocol_version must be a version like 1.0"),
    ({"sharing_agreement_version": "2024-25"}, "sharing_agreement_version must be a version"),
    ({"dsl_confirmation_days": 0}, "dsl_confirmation_days must be a whole number from 1"),
    ({"governance_contact": " "}, "governance_contact must be short text"),
])
def test_bad_governance_settings_are_named(table: dict[str, object], message: str,
                                          tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        settings_with(tmp_path, table)
    assert str(tmp_path / "databook.toml") in str(caught.value)  # where it was set
