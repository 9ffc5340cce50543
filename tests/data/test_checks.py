"""deepnet.data.checks: each problem is a DataError naming the place (file, row in the
source, column, value) and what would fix it; targets are encoded as documented."""

import re
import types

import numpy as np
import pytest

from deepnet.core.errors import DataError
from deepnet.data.checks import (
    MAX_INFERRED_CLASSES,
    as_numbers,
    check_finite,
    check_model_input,
    check_not_empty,
    check_numeric,
    encode_target,
    label_key,
    source_row,
)


def error(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as e:
        fn(*args, **kwargs)
    return str(e.value)


def test_not_empty():
    check_not_empty(1, "d.csv")
    msg = error(check_not_empty, 0, "d.csv")
    assert msg.startswith("d.csv: the data set is empty (no rows found)")
    assert "(no images (.png) found)" in error(check_not_empty, 0, "imgs", "images (.png)")


@pytest.mark.parametrize("x", [np.zeros((2, 3), np.float32), np.zeros(3, np.int64),
                               np.ones(2, bool), np.zeros(2, np.uint8)])
def test_numeric_arrays_pass(x):
    check_numeric(x, "d.npz")


@pytest.mark.parametrize("x, dtype", [(np.array(["a", "b"]), "<U1"),
                                      (np.array([1, "a"], dtype=object), "object"),
                                      (np.array([b"x"]), "|S1")])
def test_non_numeric_arrays(x, dtype):
    assert error(check_numeric, x, "d.npz", "x") == (
        f"d.npz: x must hold numbers; got an array of {dtype}")


def test_every_non_finite_value_named_by_row_and_feature():
    x = np.zeros((10, 4), np.float32)
    x[7, 2] = np.nan
    x[9, 0] = np.inf
    msg = error(check_finite, x, "d.npz")
    assert msg.splitlines()[:3] == ["d.npz: 2 problems:",
                                    "  row 7, feature 2: value nan is not a finite number",
                                    "  row 9, feature 0: value inf is not a finite number"]
    assert "fix or remove those rows" in msg and "data.missing" in msg


def test_non_finite_value_by_column_name_and_source_row():
    x = np.ones((3, 2))
    x[1, 1] = -np.inf
    rows = np.array([0, 4, 9])  # rows 1-3 and 5-8 of the source were dropped
    msg = error(check_finite, x, "t.csv", rows, ["a", "b"])
    assert msg.startswith("t.csv: row 4, column 'b': value -inf is not a finite number; ")
    assert "problems" not in msg  # only one


def test_non_finite_value_in_images_and_sequences_by_position():
    x = np.zeros((4, 1, 3, 3), np.float32)
    x[2, 0, 1, 2] = np.nan
    assert error(check_finite, x, "d.npz").startswith("d.npz: row 2, position (0, 1, 2):")


def test_finite_and_integer_arrays_pass():
    check_finite(np.ones((3, 2)), "d")
    check_finite(np.array([[1, 2]], np.int64), "d")


def test_source_row():
    assert source_row(None, 5) == 5
    assert source_row(np.array([3, 8, 11]), 1) == 8


@pytest.mark.parametrize("value, key", [(1, "1"), (1.0, "1"), ("1", "1"), (np.int64(1), "1"),
                                        (np.float32(2.0), "2"), (b"cat", "cat"), (1.5, "1.5"),
                                        (True, "True"), ("cat", "cat")])
def test_label_key(value, key):
    assert label_key(value) == key


def test_as_numbers():
    out = as_numbers(np.array(["1", "2.5", "x", None, "-3e2"], dtype=object))
    np.testing.assert_array_equal(out, [1.0, 2.5, np.nan, np.nan, -300.0])
    assert as_numbers(np.array([True, False])).tolist() == [1.0, 0.0]
    assert as_numbers(np.arange(3)).dtype == np.float64


# ----------------------------------------------------------------------------- targets
def test_whole_numbers_are_classes_in_numeric_order():
    values = np.array([10, 2, 2, 9, 10, 1])
    y, names, task = encode_target(values, None, "d")
    assert task == "classification" and names == ["1", "2", "9", "10"]  # not "10" < "2"
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.asarray(names)[y], values.astype(str))


def test_labels_of_mixed_types_are_one_class_each_numbers_first():
    values = np.array([1.0, "1", "cat", 2, "ant", 1], dtype=object)
    y, names, task = encode_target(values, None, "d")
    assert task == "classification" and names == ["1", "2", "ant", "cat"]
    assert y.tolist() == [0, 0, 3, 1, 2, 0]


def test_fractions_and_many_distinct_values_are_a_regression():
    y, names, task = encode_target(np.array([0.5, 1.25, 3.0]), None, "d")
    assert (task, names, y.dtype) == ("regression", [], np.float32)
    np.testing.assert_array_equal(y, [0.5, 1.25, 3.0])
    many = np.arange(MAX_INFERRED_CLASSES + 1)
    assert encode_target(many, None, "d")[2] == "regression"
    assert encode_target(many[:-1], None, "d")[2] == "classification"
    assert encode_target(many, "classification", "d")[2] == "classification"


def test_numbers_as_text_are_numbers():
    y, _, task = encode_target(np.array(["0.5", "2", "3.25"], dtype=object), None, "d")
    assert task == "regression" and y.tolist() == [0.5, 2.0, 3.25]
    y, names, task = encode_target(np.array(["3", "1", "3"], dtype=object), None, "d")
    assert task == "classification" and names == ["1", "3"] and y.tolist() == [1, 0, 1]


def test_a_text_regression_target_names_row_and_column():
    rows = np.array([0, 1, 5, 6])
    msg = error(encode_target, np.array(["1.5", "2", "high", "3"], dtype=object),
                "regression", "t.csv", "price", rows)
    assert msg.startswith("t.csv: row 5, column 'price': the regression target 'high' is not a "
                          "number;")
    assert "task: classification" in msg


def test_targets_of_several_values_a_row():
    y, names, task = encode_target(np.ones((4, 2), np.float32), None, "d")
    assert task == "regression" and y.shape == (4, 2)
    x = np.ones((4, 2), np.float32)
    x[3, 1] = np.nan
    assert error(encode_target, x, "regression", "d.npz", "y").startswith("d.npz: row 3, ")
    msg = error(encode_target, np.ones((4, 2), np.int64), None, "d.npz", "y")
    assert msg == "d.npz: y must hold one label per row; got shape (4, 2)"


# ----------------------------------------------------------------------------- model input
EMBEDDING = types.SimpleNamespace(vocab=10)  # the arguments of an embedding layer


def test_numbers_into_a_model_not_starting_with_an_embedding_pass():
    check_model_input(np.float32, (4,), "dense", None, "d")
    check_model_input(np.int64, (6,), "embedding", EMBEDDING, "t.csv", max_id=9)


def test_token_ids_need_an_embedding_first():
    msg = error(check_model_input, np.int64, (6,), "dense", None, "t.csv")
    assert msg.startswith("t.csv: the data are token ids of shape (6,) per sample, but "
                          "model.layers[0] is dense")
    assert "- embedding: {vocab: ..., dim: ...}" in msg


@pytest.mark.parametrize("first", ["embedding", "embeddingbag"])
def test_an_embedding_needs_token_ids(first):
    msg = error(check_model_input, np.float32, (4,), first, EMBEDDING, "iris")
    assert re.search(rf"numbers of shape \(4,\) .*an {first}, .*data\.text", msg)


@pytest.mark.parametrize("first", ["embedding", "embeddingbag"])
def test_the_vocabulary_must_hold_every_id(first):
    msg = error(check_model_input, np.int64, (6,), first, EMBEDDING, "t.csv", max_id=10)
    assert msg == ("t.csv: token ids go up to 10, so the vocabulary has 11 ids, but "
                   f"model.layers[0].{first}.vocab is 10; set it to at least 11")
