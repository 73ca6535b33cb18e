"""A publishing process for the kill test:
``python -m tests.publish_child DROP STATE N [amend]``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from databook.store import LocalStore
from publish.amend import publish_amendment
from publish.drop import Signing, publish_run, render_encrypted, school_files
from publish.keystore import Keystore
from publish.previous import attach, compare_with_latest
from tests.support import SOURCE, rows, run_info

WITHHELD = "Address withheld"


class UnhurriedStore(LocalStore):
    """The real local store, pausing before the last steps so a kill can land between them."""

    def write(self, rel: str, data: bytes) -> None:
        if rel.endswith(("manifest.json", "manifest.json.sig")):
            time.sleep(0.3)
        super().write(rel, data)

    def rename(self, src: str, dst: str) -> None:
        time.sleep(0.3)
        super().rename(src, dst)


def main(drop: str, state: str, count: int, amend: bool = False) -> None:
    """A full run of ``count`` schools; with ``amend``, half the schools' rows change and the
    run is an amendment of the latest one (the others' files carried over)."""
    urns = list(range(100, 100 + count))
    schools = pd.DataFrame({"urn": urns, "dfe_number": "830/1", "name": "School"})
    keystore = Keystore.open(Path(state))
    frame = rows(*urns)
    if amend:
        frame.loc[frame["urn"] < 100 + count // 2, "social_worker"] = "someone new"
    store = UnhurriedStore(Path(drop))
    comparison = compare_with_latest(store, keystore, frame, urns, WITHHELD)
    files = list(school_files(schools, frame, keystore.ensure_passwords(urns)))
    run = run_info()
    if not amend:
        publish_run(store, run, attach(files, comparison), Signing.from_keystore(keystore),
                    SOURCE)
        return
    assert comparison.latest is not None
    changed = attach(files, comparison, comparison.changed)
    encrypted = [render_encrypted((item, run)) for item in changed]
    publish_amendment(store, run, comparison.latest, urns, changed, encrypted,
                      Signing.from_keystore(keystore), SOURCE)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["amend"])
