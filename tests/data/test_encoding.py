"""deepnet.data.encoding: the typed columns of a table encoding write the JSON keys runs
have always saved in model.safetensors, and the JSON of earlier runs reads back."""

import json

import numpy as np
import pandas as pd
import pytest

from deepnet.data.encoding import Column, TableEncoding, encoding_from_json
from deepnet.data.tables import encode_frame, fit_fills

OLD = {"target": "label", "kind": "table", "columns": [
    {"name": "age", "type": "numeric"},
    {"name": "income", "type": "numeric", "fill": 41000.0},
    {"name": "city", "type": "onehot", "categories": ["berlin", "paris"]},
    {"name": "size", "type": "ordinal", "categories": ["1", "2", "3"], "fill": "2"}]}


def test_columns_write_the_keys_of_earlier_runs():
    enc = encoding_from_json(json.loads(json.dumps(OLD)))
    assert enc.columns == [Column("age"), Column("income", fill=41000.0),
                           Column("city", "onehot", ["berlin", "paris"]),
                           Column("size", "ordinal", ["1", "2", "3"], "2")]
    assert enc.to_json() == OLD  # no `fill` when None, no `categories` of numeric
    assert [list(c) for c in enc.to_json()["columns"]] == [list(c) for c in OLD["columns"]]


def test_column_types_are_verified():
    bad = {**OLD, "columns": [{"name": "age", "type": "text"}]}
    with pytest.raises(ValueError, match=r"columns\.0\.type.*'text'"):
        encoding_from_json(bad)
    with pytest.raises(ValueError, match=r"columns\.0\.name: missing"):
        encoding_from_json({**OLD, "columns": [{"type": "numeric"}]})


def test_a_saved_encoding_encodes_like_the_one_trained_with():
    frame = pd.DataFrame({"age": [30.0, 40.0], "income": [np.nan, 20000.0],
                          "city": ["paris", "rome"], "size": [None, "3"]})
    enc = encoding_from_json(OLD)
    x = encode_frame(frame, enc.columns, "rows.csv")
    # income imputed, rome unknown (all zeros one-hot), size missing -> fill "2" -> 1
    np.testing.assert_array_equal(x, [[30, 41000, 0, 1, 1], [40, 20000, 0, 0, 2]])
    again = TableEncoding.from_json(json.loads(json.dumps(enc.to_json())))
    np.testing.assert_array_equal(encode_frame(frame, again.columns, "rows.csv"), x)


def test_fill_from_training_rows_only_keeps_the_rest_of_the_column():
    frame = pd.DataFrame({"n": [1.0, np.nan, 5.0, 100.0], "c": ["a", "b", "b", "a"]})
    cols = [Column("n"), Column("c", "onehot", ["a", "b"])]
    filled = fit_fills(cols, frame, np.array([0, 1, 2]))
    assert filled == [Column("n", fill=3.0), Column("c", "onehot", ["a", "b"], "b")]
    assert cols[0].fill is None  # the plan itself is not changed
