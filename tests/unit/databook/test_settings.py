"""The ledger's settings live in the one settings object (``[portal]`` / DATABOOK_PORTAL_*),
reach the ledger's configuration, and a bad value is one line naming the setting."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from databook.cli import main
from databook.ledger.config import from_settings
from flows.settings import SettingsError, load


def test_ledger_settings_from_toml_then_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "databook.toml").write_text(
        '[portal]\nledger_origin = "council.example/ledger"\nledger_checkpoint_minutes = 5\n'
        'school_day_start = "08:00"\nschool_day_end = "18:30"\nwitness = false\n')
    config = from_settings(load(environ={"DATABOOK_HOME": str(home),
                                         "DATABOOK_PORTAL_LEDGER_WITNESS_NAME": "c.example/w",
                                         "DATABOOK_PORTAL_SCHOOL_DAY_END": "17:00",
                                         "DATABOOK_PORTAL_LEDGER_TAIL_SECONDS": "3"}))
    assert config.origin == "council.example/ledger" and config.tail_s == 3
    assert config.checkpoint_every_s == 300
    assert (config.school_day_start, config.school_day_end) == (time(8), time(17))
    assert config.witness_name == "c.example/w" and config.witness is False
    defaults = from_settings(load(environ={"DATABOOK_HOME": str(tmp_path / "other")}))
    assert (defaults.checkpoint_every_s, defaults.school_day_start, defaults.witness,
            defaults.tail_s) == (600, time(7), True, 1)


@pytest.mark.parametrize(("name", "value", "says"), [
    ("LEDGER_ORIGIN", "my ledger", "ledger_origin must be a name"),
    ("LEDGER_ORIGIN", "a+b", "ledger_origin must be a name"),
    ("LEDGER_WITNESS_NAME", "x" * 101, "ledger_witness_name must be a name"),
    ("LEDGER_CHECKPOINT_MINUTES", "0", "ledger_checkpoint_minutes must be a whole number"),
    ("LEDGER_CHECKPOINT_MINUTES", "ten", "ledger_checkpoint_minutes must be a whole number"),
    ("LEDGER_TAIL_SECONDS", "0", "ledger_tail_seconds must be a whole number from 1 to 600"),
    ("LEDGER_TAIL_SECONDS", "1.5", "ledger_tail_seconds must be a whole number"),
    ("SCHOOL_DAY_START", "7am", "school_day_start must be a time like 07:00"),
    ("SCHOOL_DAY_START", "25:00", "school_day_start must be a time like 07:00"),
    ("SCHOOL_DAY_END", "06:00", "school_day_end must be after school_day_start"),
    ("WITNESS", "sometimes", "witness must be true or false"),
])
def test_a_bad_ledger_setting_is_one_line(name: str, value: str, says: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    environ = {"DATABOOK_HOME": str(tmp_path), f"DATABOOK_PORTAL_{name}": value}
    with pytest.raises(SettingsError) as caught:
        load(environ=environ)
    assert says in str(caught.value)
    for key, item in environ.items():
        monkeypatch.setenv(key, item)
    assert main(["audit", "usage"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("databook: error: ") and says in line
    assert not (tmp_path / "portal").exists()  # nothing was made
