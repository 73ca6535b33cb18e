import pandas as pd

from schemas.codes import WARNING_LABELS
from tests.support import FRAME_AS_AT as AS_AT
from tests.support import periods, ts
from transform.safety import cautions, display_name, latest_dv_notification


def test_cautions_in_configured_order_with_restricted_label_and_no_unknown_or_ended() -> None:
    restricted = pd.Series([True, False, False], index=pd.Index([1, 2, 3]))
    warnings = periods([
        {"person_id": 1, "code": "VIOL", "start": "2026-01-01", "end": None},
        {"person_id": 2, "code": "UNSAFE", "start": "2026-01-01", "end": None},
        {"person_id": 2, "code": "THRT", "start": "2026-01-01", "end": None},
        {"person_id": 2, "code": "ZZZ", "start": "2026-01-01", "end": None},
        {"person_id": 3, "code": "ANIM", "start": "2025-01-01", "end": "2026-11-21"},
    ])
    out = cautions(restricted, warnings, AS_AT, WARNING_LABELS, "NDISC")
    assert out[1] == "Information not to be disclosed; Risk of violence"
    assert out[2] == "Threatening behaviour; Unsafe premises"
    assert pd.isna(out[3])


def test_dv_window_is_inclusive_of_twelve_months_back_and_of_the_as_at_date() -> None:
    notes = periods([{"person_id": p, "date": d} for p, d in [
        (1, "2025-11-21"), (2, "2025-11-20"), (3, "2026-11-21"), (4, "2026-11-23"),
        (5, "2026-01-05"), (5, "2026-06-05")]])
    out = latest_dv_notification(notes, AS_AT, 12)
    assert out.to_dict() == {1: ts("2025-11-21"), 3: ts("2026-11-21"), 5: ts("2026-06-05")}


def test_names_are_first_then_last_as_recorded() -> None:
    first = pd.Series(["Siân", None, "=1+1"], dtype="string")
    last = pd.Series(["O'Brien", "Solo", None], dtype="string")
    assert display_name(first, last).tolist() == ["Siân O'Brien", "Solo", "=1+1"]
