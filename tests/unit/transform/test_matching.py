"""Which pupil a case person is, and who is on roll: the rules that keep a child's record out
of another school's databook."""

from datetime import date

import pandas as pd

from demo.roll import make_upn
from tests.support import periods
from transform.findings import Findings
from transform.matching import match, on_roll
from transform.rules_config import Rules

RULES = Rules(as_at=date(2026, 11, 21))
A, B = make_upn(10000001), make_upn(10000002)
SCHOOLS = pd.DataFrame({"urn": pd.array([100, 200, 300], dtype="Int64"),
                        "is_open": [True, True, False]})


def enrolments(*rows: tuple[int, str | None, int, str, str | None, str]) -> pd.DataFrame:
    return periods([{"edu_person_id": e, "upn": u, "urn": s, "start": st, "end": en, "status": c}
                    for e, u, s, st, en, c in rows]).astype({"urn": "Int64", "upn": "string",
                                                              "edu_person_id": "Int64"})


def persons(*rows: tuple[int, str | None, str | None]) -> pd.DataFrame:
    return pd.DataFrame({"person_id": pd.array([r[0] for r in rows], dtype="Int64"),
                         "upn": pd.array([r[1] for r in rows], dtype="string"),
                         "former_upn": pd.array([r[2] for r in rows], dtype="string")})


def refs(*rows: tuple[int, str, str]) -> pd.DataFrame:
    return pd.DataFrame({"id": pd.array(range(1, len(rows) + 1), dtype="Int64"),
                         "person_id": pd.array([r[0] for r in rows], dtype="Int64"),
                         "kind": pd.array([r[1] for r in rows], dtype="string"),
                         "value": pd.array([r[2] for r in rows], dtype="string")})


def placed(roll: pd.DataFrame, people: pd.DataFrame, references: pd.DataFrame | None = None,
           findings: Findings | None = None) -> set[tuple[int, int]]:
    findings = findings or Findings()
    live = on_roll(roll, SCHOOLS, RULES, findings)
    out = match(live, people, references if references is not None else refs(), findings)
    return {(int(u), int(p)) for u, p in zip(out["urn"], out["person_id"], strict=True)}


def test_on_roll_means_current_with_status_c_m_or_s_at_an_open_school() -> None:
    roll = enrolments(
        (1, A, 100, "2020-01-01", None, "C"),          # on roll
        (1, A, 200, "2026-01-01", None, "G"),          # guest: not on roll
        (2, B, 100, "2020-01-01", "2026-11-21", "C"),  # left on the as-at date
        (2, B, 200, "2026-11-22", None, "C"),          # joins after the as-at date
        (2, B, 300, "2020-01-01", None, "C"),          # closed school
    )
    assert placed(roll, persons((7, A, None), (8, B, None))) == {(100, 7)}


def test_dual_registration_appears_at_both_schools() -> None:
    roll = enrolments((1, A, 100, "2020-01-01", None, "M"), (1, A, 200, "2026-01-01", None, "S"))
    assert placed(roll, persons((7, A, None))) == {(100, 7), (200, 7)}


def test_former_upn_upn_reference_and_education_id_all_match() -> None:
    roll = enrolments((1, A, 100, "2020-01-01", None, "C"), (2, B, 100, "2020-01-01", None, "C"),
                      (3, make_upn(10000003), 200, "2020-01-01", None, "C"))
    people = persons((7, None, A), (8, None, None), (9, None, None))
    references = refs((8, "UPN", B), (9, "EMS", "3"))
    assert placed(roll, people, references) == {(100, 7), (100, 8), (200, 9)}


def test_a_pupil_matching_two_people_is_withheld_and_reported() -> None:
    findings = Findings()
    roll = enrolments((1, A, 100, "2020-01-01", None, "C"))
    assert placed(roll, persons((7, A, None), (8, A, None)), findings=findings) == set()
    assert findings.counts() == {"pupil-matches-two-people": 2}


def test_a_person_matching_two_pupils_is_withheld_everywhere() -> None:
    findings = Findings()
    roll = enrolments((1, A, 100, "2020-01-01", None, "C"), (2, B, 200, "2020-01-01", None, "C"))
    assert placed(roll, persons((7, A, None)), refs((7, "EMS", "2")), findings) == set()
    assert findings.counts() == {"person-matches-two-pupils": 2}


def test_malformed_upns_never_match_and_are_reported() -> None:
    findings = Findings()
    short = A[:-1]
    roll = enrolments((1, short, 100, "2020-01-01", None, "C"))
    assert placed(roll, persons((7, short, None)), findings=findings) == set()
    assert findings.counts() == {"malformed-upn": 2}


def test_names_and_birth_dates_are_never_used_to_match() -> None:
    roll = enrolments((1, None, 100, "2020-01-01", None, "C"))
    people = persons((7, None, None)).assign(first_name="Same", last_name="Name")
    assert placed(roll, people) == set()
