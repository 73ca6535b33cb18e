"""Read the case-management database and the school rolls through SQLAlchemy Core.

Plain functions, no orchestration: the flow in ``flows/`` decides when they run.
"""

from extract.errors import SourceError
from extract.read import CASE, ROLL, SourceData, SourceIssue, read_sources

__all__ = ["CASE", "ROLL", "SourceData", "SourceError", "SourceIssue", "read_sources"]
