"""``python -m databook``: the same command as ``databook`` (the tests run it this way)."""

import sys

from databook.cli import main

sys.exit(main())
