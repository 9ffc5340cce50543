"""Inputs at predict time (issue 13, item 9): inputs that are no finite real number are
refused naming their rows (a capped list with the count), from the Python API and from
`deepnet predict` (exit 2, the file named); inputs outside the training range saved with
the model are predicted with a warning that names the rows and the columns; token ids of
a text run pass as they are."""

import warnings

import numpy as np
import pytest

import deepnet
from deepnet.cli import main
from deepnet.data.checks import InputRangeWarning
from deepnet.spec import Spec
from factory import table_spec

IRIS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    spec = Spec.from_dict(table_spec("iris", outputs=3, name="iris", batch_size=32))
    run = deepnet.train(spec, out=tmp_path_factory.mktemp("iris") / "run", quiet=True,
                        report=False)
    return deepnet.load(run.path)


def inputs(run, n: int = 6) -> np.ndarray:
    """n rows inside the training range."""
    lo, hi = run.meta.x_range
    return np.random.default_rng(0).uniform(lo, hi, (n, 4))


def refused(call, *x) -> str:
    with pytest.raises(deepnet.DataError) as e:
        call(*x)
    return str(e.value)


def test_the_training_range_is_saved(iris):
    from deepnet.data.prepare import prepare

    prepared = prepare(iris.spec)
    train = prepared.dataset.x[prepared.splits["train"]]
    assert iris.meta.x_range == (float(train.min()), float(train.max()))
    assert 0.1 <= train.min() < train.max() <= 7.9  # within iris' smallest and largest values


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_outputs"])
def test_non_finite_inputs_are_refused_by_row_and_column(iris, method):
    x = inputs(iris)
    x[1, 2], x[4, 0], x[4, 3] = np.nan, np.inf, -1e300
    lines = refused(getattr(iris, method), x).splitlines()
    assert lines == ["inputs: 3 problems:",
                     "  row 1, column 'petal length (cm)': value nan is not a finite number",
                     "  row 4, column 'sepal length (cm)': value inf is not a finite number",
                     "  row 4, column 'petal width (cm)': value -1e+300 is too large: beyond "
                     "±3.4e+38, the range of the 32-bit floats models compute in",
                     "inputs must be finite numbers within ±3.4e+38: fix or remove those rows"]


def test_many_non_finite_rows_are_counted(iris):
    x = np.full((25, 4), np.nan)
    lines = refused(iris.predict, x).splitlines()
    assert lines[0] == "inputs: 100 problems:" and lines[-2] == "  ... and 90 more (100 in all)"


def test_complex_and_text_inputs_are_refused(iris):
    x = inputs(iris).astype(np.complex128)
    assert refused(iris.predict, x) == (
        "inputs: inputs must hold real numbers; got complex ones (complex128): pass the real "
        "part (x.real), or the real and imaginary parts as separate features")
    assert refused(iris.predict, np.array([["a"] * 4])) == (
        "inputs: inputs must hold numbers; got an array of <U1")
    assert "(5,) per sample do not fit this run's model, which takes (4,)" in refused(
        iris.predict, np.ones((2, 5)))


def test_inputs_outside_the_training_range_warn(iris):
    x = inputs(iris, 14)
    x[3, 2] = 500.0
    x[[9, 11], 0] = -2.0
    with pytest.warns(InputRangeWarning) as caught:
        p = iris.predict_proba(x)
    assert p.shape == (14, 3) and np.allclose(p.sum(axis=1), 1)
    message = str(caught[0].message)
    lo, hi = iris.meta.x_range
    assert message.startswith(
        "inputs, columns 'sepal length (cm)', 'petal length (cm)': rows 3, 9, 11 (3 in all) have "
        f"values outside the range of the training inputs saved with the model, [{lo:.6g}, "
        f"{hi:.6g}] (these inputs range from -2 to 500)")
    x = inputs(iris, 30)
    x[:, 1] = 99.0
    with pytest.warns(InputRangeWarning, match=r"rows 0, 1, .*, 9 and 20 more \(30 in all\)"):
        iris.predict(x)


def test_inputs_inside_the_range_do_not_warn(iris):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(iris.predict(inputs(iris))) == 6


def _npz(tmp_path, x):
    np.savez(tmp_path / "in.npz", x=x)
    return str(tmp_path / "in.npz")


def test_predict_cli_refuses_and_names_the_file(iris, tmp_path, capsys):
    x = inputs(iris)
    x[2, 1] = np.nan
    assert main(["predict", str(iris.path), _npz(tmp_path, x)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.startswith(f"deepnet predict: error: {tmp_path / 'in.npz'}: row 2, feature 1: "
                          "value nan is not a finite number")
    assert main(["predict", str(iris.path), _npz(tmp_path, x.astype(np.complex64))]) == 2
    assert "x must hold real numbers; got complex ones" in capsys.readouterr().err
    header = ",".join(IRIS)
    (tmp_path / "in.csv").write_text(f"{header}\n1,2,3,1e308\n1,inf,3,4\n")
    assert main(["predict", str(iris.path), str(tmp_path / "in.csv")]) == 2
    err = capsys.readouterr().err
    assert "2 problems" in err and "row 0, column 'petal width (cm)': value 1e+308" in err
    assert "row 1, column 'sepal width (cm)': value inf" in err


def test_predict_cli_warns_on_stderr(iris, tmp_path, capsys):
    x = inputs(iris, 4)
    x[1, 3] = 40.0
    assert main(["predict", str(iris.path), _npz(tmp_path, x)]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 5  # header and four rows, all predicted
    assert err.startswith(f"warning: {tmp_path / 'in.npz'}, column 'petal width (cm)': row 1 "
                          "has values outside the range of the training inputs")


def test_evaluate_data_names_the_file(iris, tmp_path, capsys):
    x = inputs(iris)
    x[5, 0] = np.inf
    np.savez(tmp_path / "in.npz", x=x, y=np.arange(6) % 3)
    assert main(["evaluate", str(iris.path), "--data", str(tmp_path / "in.npz")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'in.npz'}: row 5, feature 0: value inf is not a finite number" in err


def test_token_ids_of_a_text_run_pass(tmp_path):
    rows = "".join(f"{'good fine' if i % 2 else 'bad awful'} day {i},{i % 2}\n"
                   for i in range(40))
    (tmp_path / "t.csv").write_text("text,label\n" + rows)
    layers = [{"embedding": {"vocab": 50, "dim": 4}}, {"flatten": {}}, {"dense": 2}]
    spec = Spec.from_dict({"name": "text", "seed": 0,
                           "data": {"source": str(tmp_path / "t.csv"), "text": {"max_len": 4}},
                           "model": {"layers": layers}, "train": {"epochs": 1}})
    run = deepnet.load(deepnet.train(spec, out=tmp_path / "run", quiet=True,
                                     report=False).path)
    assert run.meta.x_range is None
    ids = np.array([[0, 0, 2, 3], [0, 4, 5, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run.as_inputs(ids).dtype == np.int64
        assert run.predict_proba(ids).shape == (2, 2)
    (tmp_path / "new.csv").write_text("text\ngood day\nan unseen review\n")
    assert main(["predict", str(run.path), str(tmp_path / "new.csv")]) == 0
