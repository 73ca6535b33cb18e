"""Turn extracted source tables into the approved indicator set, and nothing more.

Layered like dbt: ``staging`` renames, casts and sets aside malformed rows; the rule modules
each decide one indicator from ``indicators.md``; ``databook`` assembles the published rows.
Everything here is a pure function of its inputs, the as-at date included.
"""

from transform.databook import Databook, build_databook
from transform.rules_config import Rules

__all__ = ["Databook", "Rules", "build_databook"]
