"""at the stage boundary: an unexpected exception's text never leaves it."""

from __future__ import annotations

import logging
import sys
from datetime import date

import pytest

from databook.faults import StageFailed, contained, describe
from databook.runlog import LocationsOnly
from flows.settings import SettingsError

NAME = "Zebedee Quartermain-Oyelaran"


@contained("transform", (SettingsError,))
def parse_birth_date(text: str) -> date:
    return date.fromisoformat(text)  # ValueError: Invalid isoformat string: '<the value>'


def test_an_unexpected_exception_becomes_a_safe_one() -> None:
    with pytest.raises(StageFailed) as caught:
        parse_birth_date(NAME)
    exc = caught.value
    assert str(exc).startswith("the transform stage failed: unexpected ValueError at "
                               "tests/unit/databook/test_faults.py:")
    assert exc.__cause__ is None and exc.__suppress_context__
    assert NAME not in str(exc) and NAME not in describe(exc, ())


def test_expected_errors_pass_with_their_own_message() -> None:
    @contained("extract", (SettingsError,))
    def refuse() -> None:
        raise SettingsError("DATABOOK_PUBLISH_WORKERS must be a whole number of at least 1")

    with pytest.raises(SettingsError, match="DATABOOK_PUBLISH_WORKERS"):
        refuse()


def test_the_run_log_keeps_where_and_never_what() -> None:
    record = logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1,
                               "Encountered exception during execution", (), None)
    try:
        date.fromisoformat(NAME)
    except ValueError:
        record.exc_info = sys.exc_info()
    text = LocationsOnly().format(record)
    assert "ValueError (message withheld)" in text and "tests/unit/databook/test_faults.py:" in text
    assert NAME not in text
    assert describe(ValueError(NAME), ()).startswith("unexpected ValueError")
