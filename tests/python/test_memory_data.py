"""Data passed in Python (a DataFrame, (X, y), a dict of arrays) train the same weights as
the same data in a file; a run predicts a DataFrame by column name, and returns labels of
the training labels' type."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.metrics import accuracy_score

import deepnet
from deepnet.data.inputs import IgnoredColumnsWarning

LAYERS = [{"dense": {"units": 16, "activation": "relu"}}, {"dense": 2}]


def _spec(data=None, epochs=3, **extra):
    spec = {"name": "mem", "model": {"layers": LAYERS},
            "train": {"epochs": epochs, "optimizer": {"lr": 0.01}}, **extra}
    if data is not None:
        spec["data"] = data
    return spec


def _weights(run) -> dict[str, torch.Tensor]:
    return run.model.state_dict()


def _same_weights(a, b) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer(as_frame=True)


@pytest.fixture(scope="module")
def frame_run(cancer, tmp_path_factory):
    """A run trained on the breast-cancer DataFrame, and one on the same data as CSV."""
    tmp = tmp_path_factory.mktemp("frame")
    df = cancer.frame
    from_frame = deepnet.train(_spec(), data=df, out=tmp / "frame", quiet=True, report=False)
    df.to_csv(tmp / "cancer.csv", index=False)
    from_csv = deepnet.train(_spec({"source": str(tmp / "cancer.csv")}), out=tmp / "csv",
                             quiet=True, report=False)
    return from_frame, from_csv


def test_dataframe_and_csv_give_bit_identical_weights(frame_run):
    _same_weights(*frame_run)


def test_arrays_and_npz_give_bit_identical_weights(cancer, tmp_path):
    x, y = cancer.data.to_numpy(), cancer.target.to_numpy()
    np.savez(tmp_path / "cancer.npz", x=x, y=y)
    from_npz = deepnet.train(_spec({"source": str(tmp_path / "cancer.npz")}),
                             out=tmp_path / "npz", quiet=True, report=False)
    from_arrays = deepnet.train(_spec(), data=(x, y), out=tmp_path / "arrays", quiet=True,
                                report=False)
    _same_weights(from_npz, from_arrays)
    tensors = deepnet.train(_spec(), data={"x": torch.tensor(x), "y": torch.tensor(y)},
                            out=tmp_path / "tensors", quiet=True, report=False)
    _same_weights(from_npz, tensors)


def test_the_run_records_the_data_not_the_data_themselves(frame_run, cancer):
    run = frame_run[0]
    info = json.loads((run.path / "data.json").read_text())
    assert info["kind"] == "DataFrame" and info["rows"] == 569
    assert info["columns"]["mean radius"] == "float64" and len(info["sha256"]) == 64
    assert run.spec.data.source == "memory"
    assert deepnet.load(run.path).spec.data.source == "memory"
    assert sum(f.stat().st_size for f in run.path.iterdir() if f.is_file()) < \
        cancer.frame.memory_usage().sum()  # no copy of the data
    # the same data hash the same, other data differently
    from deepnet.data.memory import describe
    assert describe(cancer.frame.copy())["sha256"] == info["sha256"]
    assert describe(cancer.frame.iloc[:-1])["sha256"] != info["sha256"]


def test_a_memory_run_cannot_be_retrained_from_its_spec_without_the_data(frame_run):
    with pytest.raises(deepnet.DataError, match="passed in Python.*data="):
        deepnet.train(frame_run[0].path / "spec.yaml")
    with pytest.raises(deepnet.DataError, match="test split cannot be read again"):
        deepnet.evaluate(frame_run[0])


def test_predict_matches_columns_by_name(frame_run, cancer):
    run = frame_run[0]
    x = cancer.data.iloc[:200]
    shuffled = x[list(np.random.default_rng(0).permutation(x.columns))]
    assert (run.predict(shuffled) == run.predict(x)).all()
    assert np.array_equal(run.predict_proba(x[::-1].iloc[::-1]), run.predict_proba(x))
    # by position (a plain array in the training order) it is the same as by name
    assert (run.predict(x.to_numpy()) == run.predict(x)).all()
    with pytest.raises(deepnet.DataError, match="no feature column 'mean radius'"):
        run.predict(x.drop(columns=["mean radius"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with_extra = run.predict(x.assign(patient_id=np.arange(len(x))))
    assert (with_extra == run.predict(x)).all()
    notes = [str(w.message) for w in caught if w.category is IgnoredColumnsWarning]
    assert notes == ["inputs: column 'patient_id' ignored: the model was not trained on it"]
    # a dict of columns is a table too
    assert (run.predict({c: x[c].to_numpy() for c in x.columns[::-1]}) ==
            run.predict(x)).all()


def test_labels_keep_their_type(frame_run, cancer, tmp_path):
    run = frame_run[0]
    x, y = cancer.data, cancer.target
    pred = run.predict(x)
    assert pred.dtype == np.int64 and set(pred) <= {0, 1}
    assert accuracy_score(y, pred) == pytest.approx(run.predict_proba(x).argmax(1).__eq__(
        y.to_numpy()).mean())
    assert list(run.labels) == [0, 1]
    names = np.where(y == 1, "benign", "malignant")
    strings = deepnet.train(_spec(), data=(x, names), out=tmp_path / "s", quiet=True,
                            report=False)
    pred = strings.predict(x)
    assert set(pred) <= {"benign", "malignant"} and isinstance(pred[0], str)
    assert list(strings.labels) == ["benign", "malignant"]  # predict_proba's columns
    proba = strings.predict_proba(x)
    assert (strings.labels[proba.argmax(1)] == pred).all()
    assert accuracy_score(names, pred) > 0.5
    # after loading from disk too
    again = deepnet.load(strings.path)
    assert (again.predict(x) == pred).all()
    floats = deepnet.train(_spec(), data=(x.to_numpy(), y.to_numpy() * 1.0),
                           out=tmp_path / "f", quiet=True, report=False, )
    assert floats.predict(x.to_numpy()).dtype == np.float64


def test_built_in_sets_predict_their_integer_targets(tmp_path):
    iris = load_iris()
    run = deepnet.train(_spec({"source": "iris"}, epochs=40, model={"layers": [
        {"dense": {"units": 16, "activation": "relu"}}, {"dense": 3}]}),
        out=tmp_path / "iris", quiet=True, report=False)
    assert run.classes == ["setosa", "versicolor", "virginica"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows of the test split outside the training range
        pred = run.predict(iris.data)
    assert pred.dtype == np.int64
    assert accuracy_score(iris.target, pred) > 0.5


def test_evaluate_audit_summary_and_build_take_data_in_python(frame_run, cancer, tmp_path):
    run = frame_run[0]
    on_frame = deepnet.evaluate(run, data=cancer.frame)
    assert on_frame == deepnet.evaluate(run, data=(cancer.data, cancer.target))
    assert on_frame == deepnet.evaluate(run, data=(cancer.data.to_numpy(),
                                                   cancer.target.to_numpy()))
    assert on_frame["accuracy"] == pytest.approx(
        accuracy_score(cancer.target, run.predict(cancer.data)), abs=1e-6)
    report = deepnet.audit(_spec(), data=cancer.frame)
    assert report.imbalance is not None and report.to_dict()["leakage"] == []
    s = deepnet.summary(_spec(), data=cancer.frame)
    assert s.input_shape == (30,) and s.total_params == 30 * 16 + 16 + 16 * 2 + 2
    model = deepnet.build(_spec(), data=(cancer.data.to_numpy(), cancer.target.to_numpy()))
    assert model(torch.zeros(1, 30)).shape == (1, 2)


def test_resume_needs_the_same_data(cancer, tmp_path):
    df = cancer.frame
    first = deepnet.train(_spec(epochs=2), data=df, out=tmp_path / "r", quiet=True,
                          report=False)
    with pytest.raises(deepnet.DataError, match="not the ones the run was trained on"):
        deepnet.train(None, resume=first.path, data=df.iloc[:-5], quiet=True, report=False)
    again = deepnet.train(None, resume=first.path, data=df, quiet=True, report=False)
    _same_weights(first, again)


def test_in_memory_data_are_checked_like_files(cancer):
    df = cancer.frame.copy()
    df.loc[7, "mean area"] = np.nan
    with pytest.raises(deepnet.DataError, match=r"data \(DataFrame\): row 7, column 'mean "
                                                r"area': missing value"):
        deepnet.train(_spec(), data=df, quiet=True, report=False)
    with pytest.raises(deepnet.DataError, match="X has 569 rows but y has 3"):
        deepnet.train(_spec(), data=(cancer.data.to_numpy(), np.arange(3)), quiet=True)
    with pytest.raises(deepnet.DataError, match="expected a pandas DataFrame"):
        deepnet.train(_spec(), data=42, quiet=True)
    with pytest.raises(deepnet.DataError, match="no feature column 'nope'"):
        deepnet.train(_spec({"features": ["nope"]}), data=cancer.frame, quiet=True)
    with pytest.raises(deepnet.DataError, match="different lengths"):
        deepnet.train(_spec(), data={"a": [1, 2], "target": [0, 1, 1]}, quiet=True)


def test_categorical_frames_train_and_predict_by_name(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    colour = rng.choice(["red", "green", "blue"], n)
    size = rng.normal(size=n)
    label = np.where((colour == "red") ^ (size > 0), "yes", "no")
    df = pd.DataFrame({"colour": colour, "size": size, "label": label})
    run = deepnet.train(_spec(epochs=60, model={"layers": [
        {"dense": {"units": 16, "activation": "relu"}}, {"dense": 2}]}), data=df,
        out=tmp_path / "cat", quiet=True, report=False)
    pred = run.predict(df[["size", "colour"]])
    assert (pred == run.predict(df.drop(columns="label"))).all()
    assert accuracy_score(df["label"], pred) > 0.8


def test_images_in_memory_stream_and_augment_like_the_npz(tmp_path, monkeypatch):
    """Digit images as arrays: with augmentation and minmax normalisation, streamed (as
    large data would be) and held, from memory and from the .npz, all the same weights."""
    import deepnet.data.prepare as prepare_module
    from deepnet.data.prepare import prepare
    from deepnet.data.sources import load_source, sklearn_data_file
    from deepnet.spec import Spec

    digits = np.loadtxt(sklearn_data_file("digits.csv.gz"), delimiter=",", dtype=np.float32)
    x, y = (digits[:600, :-1] / 16).reshape(-1, 1, 8, 8), digits[:600, -1].astype(np.int64)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = {"source": str(tmp_path / "d.npz"), "normalize": "minmax",
            "augment": [{"rotate": 10}, {"noise": 0.05}], "workers": 0}
    spec = {"name": "img", "model": {"layers": [
        {"conv2d": {"filters": 4, "kernel": 3, "activation": "relu"}}, {"flatten": None},
        {"dense": 10}]}, "train": {"epochs": 2}}
    from_npz = deepnet.train({**spec, "data": data}, out=tmp_path / "npz", quiet=True,
                             report=False)
    held = deepnet.train({**spec, "data": data}, data=(x, y), out=tmp_path / "held",
                         quiet=True, report=False)
    _same_weights(from_npz, held)
    monkeypatch.setattr(prepare_module, "STREAM_BYTES", 1000)  # large: streamed
    streamed_spec = Spec.coerce({**spec, "data": {**data, "source": "memory"}})
    assert prepare(streamed_spec, load_source(streamed_spec.data, None, (x, y))).stream
    streamed = deepnet.train(streamed_spec, data=(x, y), out=tmp_path / "streamed",
                             quiet=True, report=False)
    assert [h["train_loss"] for h in streamed.history] == \
        [h["train_loss"] for h in held.history]
    assert streamed.results.test == held.results.test


def test_y_beside_a_dataframe_is_the_target_column(cancer, tmp_path):
    x, y = cancer.data, cancer.target.rename("diagnosis")
    run = deepnet.train(_spec(), data=(x, y), out=tmp_path / "named", quiet=True, report=False)
    assert run.encoding.target == "diagnosis"
    named = deepnet.train(_spec({"target": "label"}), data=(x, y), out=tmp_path / "spec",
                          quiet=True, report=False)
    assert named.encoding.target == "label"  # data.target names y's column
    _same_weights(run, named)


def test_odd_inputs_are_data_errors(cancer, frame_run):
    x = cancer.data
    with pytest.raises(deepnet.DataError, match=r"y must hold one label per row of X \(569 "
                                                r"rows\); got None"):
        deepnet.train(_spec(), data=(x.to_numpy(), None), quiet=True)
    with pytest.raises(deepnet.DataError, match="got a scalar"):
        deepnet.evaluate(frame_run[0], data=(x.to_numpy(), 3))
    with pytest.raises(deepnet.DataError, match="column 'cell' holds values that are not"):
        deepnet.train(_spec(), data=cancer.frame.assign(cell=[[1, 2]] * len(x)), quiet=True)
    with pytest.raises(deepnet.DataError, match="repeated: \\['mean area'\\]"):
        frame_run[0].predict(pd.concat([x, x[["mean area"]]], axis=1))
    when = pd.Timestamp("2020-01-01") + pd.to_timedelta(np.arange(len(x)), unit="D")
    with pytest.raises(deepnet.DataError, match="column 'when' holds dates or times.*column "
                                                "'z' holds complex numbers"):
        deepnet.train(_spec(), data=cancer.frame.assign(when=when, z=1j), quiet=True)
    half = torch.tensor(x.to_numpy(), dtype=torch.bfloat16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bfloat16 rounds a few values out of the range
        assert frame_run[0].predict(half).shape == (569,)
    assert frame_run[0].predict(x.iloc[:0]).shape == (0,)
    assert frame_run[0].predict_proba(x.to_numpy()[:0]).shape == (0, 2)


def test_mixed_labels_come_back_as_their_names(cancer, tmp_path):
    x = cancer.data.to_numpy()
    mixed = np.array([1 if t == 1 else "b" for t in cancer.target], dtype=object)
    run = deepnet.train(_spec(), data=(x, mixed), out=tmp_path / "m", quiet=True,
                        report=False)
    assert list(run.labels) == ["1", "b"] and set(run.predict(x)) <= {"1", "b"}


def test_a_memory_run_is_attacked_on_examples_passed_in(frame_run, cancer):
    run = frame_run[0]
    with pytest.raises(deepnet.DataError, match="examples=\\(x_test, y_test\\)"):
        deepnet.attack(run, "fgsm", eps=0.1)
    x, y = cancer.data.iloc[:100], cancer.target.iloc[:100]
    result = deepnet.attack(run, "fgsm", eps=0.1, examples=(x, y))
    same = deepnet.attack(run, "fgsm", eps=0.1, examples=(x.to_numpy(), y.to_numpy()))
    assert result.n == 100 and result.robust_accuracy == same.robust_accuracy
    assert result.clean_accuracy == pytest.approx(accuracy_score(y, run.predict(x)), abs=1e-6)
