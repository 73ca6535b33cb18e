"""A publishing process for the kill test: ``python -m tests.publish_child DROP STATE N``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from publish.drop import Signing, publish_run, school_files
from publish.keystore import Keystore
from publish.store import LocalStore
from tests.test_drop import SOURCE, rows, run_info


class UnhurriedStore(LocalStore):
    """The real local store, pausing before the last steps so a kill can land between them."""

    def write(self, rel: str, data: bytes) -> None:
        if rel.endswith(("manifest.json", "manifest.json.sig")):
            time.sleep(0.3)
        super().write(rel, data)

    def rename(self, src: str, dst: str) -> None:
        time.sleep(0.3)
        super().rename(src, dst)


def main(drop: str, state: str, count: int) -> None:
    urns = list(range(100, 100 + count))
    schools = pd.DataFrame({"urn": urns, "dfe_number": "830/1", "name": "School"})
    keystore = Keystore.open(Path(state))
    files = list(school_files(schools, rows(*urns), keystore.ensure_passwords(urns)))
    publish_run(UnhurriedStore(Path(drop)), run_info(), files, Signing.from_keystore(keystore),
                SOURCE)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
