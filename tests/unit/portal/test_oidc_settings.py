"""The council sign-in settings are checked when they load: the client secret never from a
file, an issuer only with a client and a group, local sign-in off only with a provider, and an
issuer over https (plain http only on this machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.settings import SettingsError, load


@pytest.mark.parametrize(("toml", "message"), [
    ('[portal]\noidc_client_secret = "s3cret"\n', "a secret is read from the environment only"),
    ('[portal]\noidc_issuer = "https://login.example.org/t/v2.0"\n', "needs oidc_client_id"),
    ("[portal]\ncouncil_local_signin = false\n", "needs oidc_issuer"),
    ('[portal]\noidc_issuer = "http://login.example.org"\noidc_client_id = "c"\n'
     'oidc_council_group = "g"\n', "https:// issuer"),
])
def test_bad_council_sign_in_settings_are_named(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "databook.toml").write_text(toml)
    with pytest.raises(SettingsError, match=message):
        load(environ={"DATABOOK_HOME": str(tmp_path)})


def test_a_complete_provider_loads_with_the_secret_from_the_environment(tmp_path: Path) -> None:
    (tmp_path / "databook.toml").write_text(
        '[portal]\noidc_issuer = "https://login.example.org/t/v2.0/"\noidc_client_id = "c"\n'
        'oidc_council_group = "g"\noidc_mfa_values = ["mfa", "hwk"]\n'
        "council_local_signin = false\n")
    portal = load(environ={"DATABOOK_HOME": str(tmp_path),
                           "DATABOOK_PORTAL_OIDC_CLIENT_SECRET": "s3cret"}).portal
    assert (portal.oidc_issuer, portal.oidc_client_secret, portal.oidc_mfa_values) == (
        "https://login.example.org/t/v2.0", "s3cret", ("mfa", "hwk"))
    assert "s3cret" not in repr(portal)
