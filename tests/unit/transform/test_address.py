import pandas as pd

from tests.support import FRAME_AS_AT as AS_AT
from tests.support import periods
from transform.address import address_withheld, principal_address


def addresses(*rows: tuple[int, str, str | None, str, bool, bool]):
    return periods([{"person_id": p, "start": s, "end": e, "address": a, "post_code": "DE4 3AG",
                     "is_display": disp, "is_contact": cont} for p, s, e, a, disp, cont in rows])


def test_display_then_contact_then_latest_start_among_current_rows() -> None:
    frame = addresses((1, "2020-01-01", None, "1 Display Road", True, False),
                      (1, "2026-01-01", None, "2 Contact Road", False, True),
                      (2, "2020-01-01", None, "3 Old Road", False, False),
                      (2, "2025-01-01", None, "4 New Road", False, False),
                      (3, "2020-01-01", "2026-11-21", "5 Ended Road", True, True))
    out = principal_address(frame, AS_AT)
    assert out.to_dict() == {1: "1 Display Road, DE4 3AG", 2: "4 New Road, DE4 3AG"}


def test_postcode_is_not_repeated_when_the_line_already_has_it() -> None:
    frame = addresses((1, "2020-01-01", None, "1 Road, Matlock, DE4 3AG", True, True))
    assert principal_address(frame, AS_AT)[1] == "1 Road, Matlock, DE4 3AG"


def test_withheld_for_restricted_records_and_current_withholding_warnings_only() -> None:
    restricted = pd.Series([True, False, False, False], index=pd.Index([1, 2, 3, 4]))
    warnings = periods([
        {"person_id": 2, "code": "ADDR", "start": "2026-01-01", "end": None},
        {"person_id": 3, "code": "NDISC", "start": "2025-01-01", "end": "2026-11-21"},
        {"person_id": 4, "code": "VIOL", "start": "2026-01-01", "end": None},
    ])
    out = address_withheld(restricted, warnings, AS_AT, {"NDISC", "ADDR"})
    assert out.tolist() == [True, True, False, False]
