"""Class labels as users have them: any hashable, coded inside; what is no label is refused."""

from __future__ import annotations

import enum

import numpy as np
import pytest
from embedreg.data.labels import label_codes
from embedreg.errors import TrainingDataError


class Topic(enum.Enum):
    SPORT = "sport"
    TECH = "tech"


@pytest.mark.parametrize(
    "labels",
    [
        ["b", "a", "b", "c"],
        np.array(["b", "a", "b", "c"]),
        [2, 1, 2, 3],
        np.array([2, 1, 2, 3], dtype=np.int32),
        np.array([2.0, 1.0, 2.0, 3.0]),  # a float column of whole numbers (a column with gaps)
        [("x", 2), ("x", 1), ("x", 2), ("y", 0)],
        iter(["b", "a", "b", "c"]),  # any iterable
    ],
)
def test_equal_labels_get_equal_codes(labels):
    codes = label_codes(labels, 4)
    assert codes is not None and codes.dtype == np.int64
    assert codes[0] == codes[2] and len({codes[0], codes[1], codes[3]}) == 3


def test_labels_that_do_not_sort_are_coded_in_order_of_appearance():
    codes = label_codes([Topic.TECH, 7, Topic.SPORT, Topic.TECH, "7"], 5)
    assert codes.tolist() == [0, 1, 2, 0, 3]  # 7 and "7" are different classes


def test_none_stays_none():
    assert label_codes(None, 3) is None


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["a", "b"], r"shape \(3,\); got shape \(2,\)"),
        (np.zeros((3, 2), dtype=int), r"shape \(3,\); got an array of shape \(3, 2\)"),
        ("abc", "single string"),
        (5, "got a int"),
        (["a", None, "b"], r"label 1 is missing \(None\)"),
        (np.array([1.0, np.nan, 2.0]), "label 1 is missing"),
        ([1.0, 0.5, 2.0], "label 1 is the number 0.5, which names no class"),
        ([1.0, float("inf"), 2.0], "label 1 is the number inf"),
        ([["a"], ["b"], ["a"]], "label 0 is a list"),
        ([{"a": 1}, {}, {}], "label 0 is a dict"),
        ([("a", []), ("b",), ("a",)], "label 0 .* is not hashable"),
    ],
)
def test_what_is_no_label_is_refused_naming_the_shape(labels, message):
    with pytest.raises(TrainingDataError, match=message) as info:
        label_codes(labels, 3)
    assert info.value.hint == "give one class label per pair, in the order of the pairs"
