"""Settings: defaults, then databook.toml, then environment, then the command line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from flows.settings import SettingsError, load


def test_demo_defaults_live_in_the_state_folder(tmp_path: Path) -> None:
    s = load(environ={"DATABOOK_HOME": str(tmp_path)})
    assert s.source_url == f"sqlite:///{tmp_path / 'demo' / 'case.sqlite'}"
    assert s.drop == str(tmp_path / "drop")
    assert s.rules_for(date(2026, 1, 1)).starting_point_phone == "01629 533190"


def test_toml_then_environment_then_overrides(tmp_path: Path) -> None:
    (tmp_path / "databook.toml").write_text(
        'source_url = "sqlite:///from-toml.sqlite"\ndrop = "/srv/toml-drop"\n'
        '[rules]\nstarting_point_phone = "01234 567890"\ndv_lookback_months = 6\n'
        'address_withholding_warnings = ["ndisc", "addr", "secret"]\n')
    env = {"DATABOOK_HOME": str(tmp_path), "DATABOOK_DROP": "/srv/env-drop"}
    s = load({"drop": None, "roll_url": "sqlite:///cli.sqlite"}, environ=env)
    assert s.source_url == "sqlite:///from-toml.sqlite"
    assert s.drop == "/srv/env-drop"
    assert s.roll_url == "sqlite:///cli.sqlite"
    rules = s.rules_for(date(2026, 1, 1))
    assert (rules.starting_point_phone, rules.dv_lookback_months) == ("01234 567890", 6)
    assert rules.address_withholding_warnings == {"NDISC", "ADDR", "SECRET"}


def test_unknown_settings_are_named(tmp_path: Path) -> None:
    (tmp_path / "databook.toml").write_text("[rules]\nstarting_pont_phone = '1'\n")
    with pytest.raises(SettingsError, match=r"unknown setting \[rules\].starting_pont_phone"):
        load(environ={"DATABOOK_HOME": str(tmp_path)})


def test_master_key_is_never_read_from_the_toml_file(tmp_path: Path) -> None:
    (tmp_path / "databook.toml").write_text("master_key = 'abc'\n")
    with pytest.raises(SettingsError, match="unknown setting master_key"):
        load(environ={"DATABOOK_HOME": str(tmp_path)})
