"""External ids typed as strings find integer ids; anything else is an unknown id."""

import pytest

from fusionrec.errors import DataError
from fusionrec.tasks.ids import lookup


def test_strings_find_integer_ids_and_exact_matches_win():
    index = {42: 0, -3: 1, "0669361001": 2, 669361001: 3}
    assert lookup(["42", " -3 ", "0669361001", 669361001], index, "item").tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("value", ["--5", "²", "4 2", "+", "", "1e3"])
def test_strings_that_are_not_integers_are_unknown_ids(value):
    with pytest.raises(DataError, match="unknown item ids"):
        lookup([value], {5: 0, 2: 1, 42: 2, 1000: 3}, "item")
