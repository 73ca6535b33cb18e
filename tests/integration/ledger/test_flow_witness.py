"""Through the real nightly flow (``databook run``): a truncated ledger fails the witness task,
with one line in the run record and an alert, and the night's databooks are still published."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from databook.ledger.config import from_settings
from databook.ledger.witness import run as witness_pass
from flows.settings import load
from portal.audit.sources import witness_signer
from tests.support import AS_AT, Council, Run, databook, make_ledger, truncate
from tests.support import fill_ledger as fill

pytestmark = pytest.mark.prefect  # the session's real nightly run


def test_a_truncated_ledger_fails_the_witness_but_not_the_publish(
        run: Run, council: Council, tmp_path: Path,
        webhook: tuple[str, list[dict[str, object]]]) -> None:
    url, received = webhook
    home = tmp_path / "home"
    shutil.copytree(run.home, home, ignore=shutil.ignore_patterns("runs"))
    env = run.env | {"DATABOOK_HOME": str(home), "PREFECT_HOME": str(home / "prefect"),
                     "DATABOOK_ALERT_WEBHOOK": url}
    ledger = make_ledger(f"sqlite:///{home / 'portal' / 'portal.sqlite'}",
                         home / "portal" / "state")
    fill(ledger, 9, checkpoints_at=(9,))
    settings = load(environ=env)
    config = from_settings(settings)
    assert witness_pass(settings, config, lambda: witness_signer(settings, config),
                        skip_unreachable=True).status == "cosigned"
    truncate(ledger)
    ledger.engine.dispose()
    before = (home / "drop" / "latest").read_text()

    done = databook("run", "--as-at", AS_AT.isoformat(), "--source-url", council.case_url,
                    "--roll-url", council.roll_url, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    folder = Path(done.stdout.strip().splitlines()[-1])
    assert (home / "drop" / "latest").read_text() != before  # published, and latest moved
    assert (home / "drop" / "latest").read_text().strip() == folder.name
    (record_file,) = (home / "runs").glob("*/run.json")
    record = json.loads(record_file.read_text())
    assert record["status"] == "published"
    assert record["witness"].startswith("failed: ") and "truncated" in record["witness"]
    assert "\n" not in record["witness"]
    assert [m["status"] for m in received] == ["failed"]
    assert "truncated" in str(received[0]["text"])
    assert json.loads((home / "witness" / "ledger.json").read_text())["size"] == 9
