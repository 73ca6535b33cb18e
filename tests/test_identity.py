import pandas as pd

from demo.roll import make_upn
from transform.identity import (
    normalise,
    upn_check_letter,
    upn_check_letter_valid,
    upn_well_formed,
)


def test_check_letter_matches_the_dfe_example() -> None:
    assert upn_check_letter("801200005001") == "B"


def test_generated_upns_are_valid_and_a_changed_digit_is_caught() -> None:
    upn = make_upn(12345678)
    changed = upn[:-1] + str((int(upn[-1]) + 1) % 10)
    result = upn_check_letter_valid(pd.Series([upn, changed], dtype="string"))
    assert result.tolist() == [True, False]


def test_well_formed_upns_include_temporary_ones_and_exclude_short_or_lettered() -> None:
    upns = pd.Series(["B801200005001", "B80120000500A", "B80120000500", "B8012000O5001", None],
                     dtype="string")
    assert upn_well_formed(upns).tolist() == [True, True, False, False, False]


def test_normalise_trims_upper_cases_and_blanks_to_missing() -> None:
    out = normalise(pd.Series([" b801200005001 ", "", None, 7000012.0], dtype="object"))
    assert out.iloc[0] == "B801200005001"
    assert out.iloc[3] == "7000012"
    assert out.iloc[1:3].isna().all()
