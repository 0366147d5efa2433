import pytest

from common.scoring import precision_recall_f1


@pytest.mark.parametrize("counts, expected", [
    ((3, 4, 6), (0.75, 0.5, 0.6)),
    ((0, 0, 0), (1.0, 1.0, 1.0)),  # nothing to find, nothing claimed: perfect
    ((0, 0, 2), (0.0, 0.0, 0.0)),  # missed everything, claimed nothing
    ((0, 2, 0), (0.0, 1.0, 0.0)),  # nothing to find, two false claims
])
def test_precision_recall_f1_counts_and_empty_sets(counts, expected):
    assert precision_recall_f1(*counts) == pytest.approx(expected)
