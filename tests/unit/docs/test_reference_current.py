"""The reference pages generated from the code (commands, settings, registers, the workbook's
and the source's columns, the ledger's kinds) are the code's current truth: a change to a
command, a setting or a schema that does not regenerate them fails here, with the command that
fixes it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.support import REPO


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference",
                                                  REPO / "tools" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_reference", module)
    spec.loader.exec_module(module)
    return module


def test_the_committed_reference_is_what_the_code_generates(tmp_path: Path) -> None:
    gen = _generator()
    gen.write(tmp_path)
    differ = gen.stale(gen.DEFAULT_OUT, tmp_path)
    assert not differ, ("docs/reference is out of date with the code: "
                        f"{', '.join(differ)}; run `make docs-reference` and commit the result")


def test_a_stale_page_is_found(tmp_path: Path) -> None:
    gen = _generator()
    fresh, committed = tmp_path / "fresh", tmp_path / "committed"
    gen.write(fresh)
    gen.write(committed)
    page = committed / "settings.md"
    page.write_text(page.read_text("utf-8").replace("`14`", "`15`"), "utf-8")
    (committed / "cli.md").unlink()
    assert gen.stale(committed, fresh) == ["cli.md", "settings.md"]


def test_every_setting_and_command_is_in_the_reference() -> None:
    gen = _generator()
    settings, cli = gen.settings_page(), gen.cli_page()
    assert not gen.missing_descriptions()
    for name in ("DATABOOK_KEEP_RUNS", "DATABOOK_PORTAL_IDLE_MINUTES", "`dv_lookback_months`",
                 "`county_change`", "DATABOOK_ALERT_SMTP"):
        assert name in settings, name
    for command in ("databook run", "databook schools confirm-round", "databook audit child",
                    "databook keys rotate", "--changed-only"):
        assert command in cli, command
