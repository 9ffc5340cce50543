"""deepnet.data.transforms: the preprocessing saved with a model as a PreprocessRecord,
with the JSON keys of earlier runs, and restored from it (input transformation included)."""

import json

import numpy as np
import pytest

from deepnet.data.encoding import InputTransformRecord, PreprocessRecord
from deepnet.data.transforms import Preprocess, SqueezedPreprocess

OLD = {"mode": "standard", "shape": [2, 1, 1], "shift": [0.5, -1.0], "scale": [2.0, 4.0]}


def _pre() -> Preprocess:
    x = np.arange(2 * 2 * 3 * 3, dtype=np.float32).reshape(2, 2, 3, 3)
    return Preprocess.fit(x, "standard")


def test_saved_preprocessing_has_the_keys_of_earlier_runs():
    pre = Preprocess.from_json(json.loads(json.dumps(OLD)))
    assert type(pre) is Preprocess and pre.shift.shape == (2, 1, 1)
    np.testing.assert_array_equal(pre(np.full((1, 2, 1, 1), 4.5, np.float32)).ravel(),
                                  [2.0, 1.375])
    assert pre.to_json() == OLD and list(pre.to_json()) == list(OLD)
    assert pre.record() == PreprocessRecord("standard", (2, 1, 1), [0.5, -1.0], [2.0, 4.0])


def test_round_trip_through_the_record_and_json():
    pre = _pre()
    for saved in (pre.record(), json.loads(json.dumps(pre.to_json()))):
        again = Preprocess.from_json(saved)
        np.testing.assert_array_equal(again.shift, pre.shift)
        np.testing.assert_array_equal(again.scale, pre.scale)
        assert again.mode == "standard"


def test_the_input_transformation_is_saved_with_it():
    sq = SqueezedPreprocess("minmax", np.zeros((1,), np.float32), np.ones((1,), np.float32),
                            bit_depth=2, smoothing=None, bounds=(0.0, 3.0))
    d = json.loads(json.dumps(sq.to_json()))
    assert d["input_transform"] == {"bit_depth": 2, "smoothing": None, "bounds": [0.0, 3.0]}
    assert sq.record().input_transform == InputTransformRecord(2, None, (0.0, 3.0))
    again = Preprocess.from_json(d)
    assert isinstance(again, SqueezedPreprocess)
    assert (again.bit_depth, again.smoothing, again.bounds) == (2, None, (0.0, 3.0))
    # 4 levels over [0, 3]: 1.2 -> 1, 2.6 -> 3
    np.testing.assert_allclose(again(np.array([[1.2], [2.6]], np.float32)), [[1.0], [3.0]])


@pytest.mark.parametrize("bad, match", [
    (OLD | {"mode": "robust"}, r"^mode"),
    ({k: v for k, v in OLD.items() if k != "scale"}, r"^scale: missing"),
    (OLD | {"shift": [0.5]}, r"shift and scale have 1 and 2 values, shape \[2, 1, 1\] needs 2"),
    (OLD | {"input_transform": {"bit_depth": 2}}, r"input_transform\.smoothing: missing")])
def test_bad_saved_preprocessing_is_a_value_error(bad, match):
    with pytest.raises(ValueError, match=match):
        Preprocess.from_json(bad)
