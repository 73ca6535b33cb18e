"""The portal stands alone: two deployables from one repository.

The internet-facing portal host installs ``'.[portal]'`` and must never load the nightly run's
libraries; ``databook --help`` imports no heavy library. The import graph between top-level
packages (a DAG, the neutral core importing neither side, only ``flows`` importing Prefect) is
declared as import contracts in pyproject.toml and checked by ``make lint``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

ROOT = REPO
HEAVY = ("pandas", "numpy", "prefect", "great_expectations", "openpyxl", "msoffcrypto", "pyarrow")
NIGHTLY = ("flows", "extract", "transform", "expectations", "publish", "demo")


def loaded_after(code: str, tmp_path: Path) -> list[str]:
    """Top-level modules a fresh interpreter has loaded after running ``code``."""
    script = (f"import sys, json\n{code}\n"
              "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    env = {**os.environ, "DATABOOK_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=120, check=True)
    found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_a_portal_worker_loads_nothing_of_the_nightly_side(tmp_path: Path) -> None:
    loaded = loaded_after("from portal.asgi import app\napp()", tmp_path)
    assert "fastapi" in loaded and "portal" in loaded  # the check itself works
    assert not set(loaded) & {*HEAVY, *NIGHTLY}


def test_every_portal_and_core_module_imports_without_the_nightly_side(tmp_path: Path) -> None:
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts)
                     for pkg in ("databook", "portal") for p in (ROOT / pkg).rglob("*.py")
                     if "migrations" not in p.parts and p.name != "__main__.py")
    loaded = loaded_after("import importlib\n" + "\n".join(
        f"importlib.import_module({m!r})" for m in modules), tmp_path)
    assert not set(loaded) & {*HEAVY, *NIGHTLY}


def test_databook_help_imports_no_heavy_library(tmp_path: Path) -> None:
    loaded = loaded_after("from databook.cli import main\ntry:\n    main(['--help'])\n"
                          "except SystemExit:\n    pass", tmp_path)
    assert "argparse" in loaded
    assert not set(loaded) & {*HEAVY, *NIGHTLY, "portal", "fastapi", "sqlalchemy"}


def test_a_nightly_command_on_a_portal_host_says_which_install_it_needs(tmp_path: Path) -> None:
    """A portal host has no pandas: ``databook run`` there is one line naming the extra."""
    env = {**os.environ, "DATABOOK_HOME": str(tmp_path)}
    code = ("import sys\nsys.modules['pandas'] = None\nfrom databook.cli import main\n"
            "sys.exit(main(['run']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("databook: error: `databook run` runs on the nightly host")
    assert "'.[nightly]'" in line


@pytest.mark.skipif(os.environ.get("CI") != "true" and not os.environ.get("DATABOOK_TEST_PIP"),
                    reason="resolves the portal's install against PyPI (CI, or set "
                           "DATABOOK_TEST_PIP=1)")
def test_the_portal_extra_installs_none_of_the_nightly_libraries(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                    "--quiet", "--report", str(report), "-c", "constraints.txt", ".[portal]"],
                   cwd=ROOT, check=True, capture_output=True, timeout=600)
    names = {i["metadata"]["name"].lower().replace("_", "-")
             for i in json.loads(report.read_text())["install"]}
    assert {"fastapi", "uvicorn", "sqlalchemy", "pydantic-settings"} <= names
    assert not names & {"prefect", "pandas", "numpy", "openpyxl", "great-expectations",
                        "msoffcrypto-tool", "pyarrow", "dask"}
