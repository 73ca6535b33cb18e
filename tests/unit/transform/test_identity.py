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


def _one_by_one(upns: pd.Series) -> list[object]:
    return [None if pd.isna(u) else u[0] == upn_check_letter(u[1:]) for u in upns]


def test_the_column_check_agrees_with_the_letter_one_by_one() -> None:
    """Valid, wrong-lettered, temporary (letter last) and missing UPNs, on a repeated index:
    the array form gives what the DfE algorithm gives for each UPN alone."""
    good = [make_upn(n) for n in range(1000, 1400)]
    wrong = [u[1:2] + u[1:] if u[0] != u[1] else "A" + u[1:] for u in good[:50]]
    temporary = [u[:-1] + "A" for u in good[50:80]]
    values = [*good, *wrong, *temporary, None, "B801200005001"]
    upns = pd.Series(values, index=[i % 7 for i in range(len(values))], dtype="string")
    result = upn_check_letter_valid(upns)
    assert list(result.index) == list(upns.index) and str(result.dtype) == "boolean"
    assert [None if pd.isna(v) else bool(v) for v in result] == _one_by_one(upns)
    assert result.iloc[:400].all() and not result.iloc[400:450].any()


def test_normalise_gives_the_same_text_for_every_kind_of_column() -> None:
    """Text, whole numbers, floats holding whole numbers, mixed and empty columns: the
    whole-column path and the value-by-value path agree."""
    columns = [pd.Series([" a1 ", None, "b2", ""], dtype="str"),
               pd.Series([" a1 ", None, "b2"], dtype="object"),
               pd.Series([1, 22, 333], dtype="int64"),
               pd.Series([1.0, None, 7000012.0]),
               pd.Series(["x", 5, None, 2.0], dtype="object"),
               pd.Series([], dtype="object"), pd.Series([None, None], dtype="object")]
    for column in columns:
        expected = pd.Series([None if pd.isna(v) else str(int(v)) if isinstance(v, float)
                              and v.is_integer() else str(v) for v in column],
                             index=column.index, dtype="string").str.strip().str.upper()
        expected = expected.mask(expected == "")
        pd.testing.assert_series_equal(normalise(column), expected)
