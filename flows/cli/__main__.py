"""``python -m flows.cli``: the same command as ``databook`` (the tests run it this way)."""

import sys

from flows.cli import main

sys.exit(main())
