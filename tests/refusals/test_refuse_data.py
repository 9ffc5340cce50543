"""Bad data files (issue 13, items 8, 9, 10, 11, 14): `deepnet train` refuses each one
before training, exit 2 naming the file and, where they apply, the rows (0-based, as the
data checks number them), the column and the value; `predict` and `evaluate --data`
refuse bad inputs the same way."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image
from refusal_checks import cli, iris_csv, refused

from factory import mlp_layers, spec_dict

ROWS = 30


def table(rows: int = ROWS, **replace) -> str:
    """A CSV text of columns a, b, color, label (two classes); `replace` maps
    (row, column) pairs, given as 'row:column', to the text put in that cell."""
    header = ["a", "b", "color", "label"]
    cells = [[str(i), f"{i % 3 + 0.5}", "red" if i % 2 else "blue", str(i % 2)]
             for i in range(rows)]
    for key, value in replace.items():
        row, column = key.split(":")
        cells[int(row)][header.index(column)] = value
    return "\n".join([",".join(header), *(",".join(c) for c in cells)]) + "\n"


def cells(*rows: int, column: str, value: str) -> dict:
    return {f"{r}:{column}": value for r in rows}


def csv(content: str | bytes, name: str = "t.csv", **data):
    """A case: a CSV file of `text`, and the rest of the `data` section."""

    def make(tmp_path):
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return {"source": str(path), **data}

    return make


def npz(name: str = "d.npz", **arrays):
    def make(tmp_path):
        path = tmp_path / name
        np.savez(path, **arrays)
        return {"source": str(path)}

    return make


def raw_file(name: str, content: bytes):
    def make(tmp_path):
        (tmp_path / name).write_bytes(content)
        return {"source": str(tmp_path / name)}

    return make


def images(classes=("a", "b"), per_class: int = 4, extra: dict | None = None, **data):
    """An image folder root/<class>/*.png of 8x8 grey images, plus `extra` files."""

    def make(tmp_path):
        root = tmp_path / "imgs"
        root.mkdir()
        for c in classes:
            (root / c).mkdir()
            for i in range(per_class):
                Image.new("L", (8, 8), color=30 * i).save(root / c / f"{i}.png")
        for rel, content in (extra or {}).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(content)
        return {"source": str(root), **data}

    return make


X = np.random.default_rng(0).normal(size=(ROWS, 4)).astype(np.float32)
Y = np.arange(ROWS) % 2


def with_x(row: int, value) -> np.ndarray:
    x = X.astype(np.float64 if abs(value) > 1e38 else np.float32)
    x[row, 2] = value
    return x


TEXT = "text,label\n" + "".join(f"{'good' if i % 2 else 'bad'} day {i},{i % 2}\n"
                                for i in range(ROWS))
IMAGE_MODEL = [{"flatten": {}}, {"dense": 2}]

# (the data, the places the message names; `layers` of the model when not the table MLP)
CASES = [
    pytest.param(csv(table(), target="lable"), ["t.csv", "'lable'"], id="csv-target-missing"),
    pytest.param(csv(table().replace(",label", ",outcome")), ["t.csv", "data.target"],
                 id="csv-no-default-target"),
    pytest.param(csv(table(), features=["a", "colour"]), ["t.csv", "'colour'"],
                 id="csv-feature-missing"),
    pytest.param(csv(table(), features=["a", "label"]), ["t.csv", "'label'"],
                 id="csv-target-as-feature"),
    pytest.param(csv(table(), categorical={"colr": "onehot"}),
                 ["data.categorical", "'colr'"], id="csv-categorical-unknown-column"),
    pytest.param(csv("label\n" + "0\n1\n" * 10), ["t.csv", "feature"], id="csv-target-only"),
    pytest.param(csv(table(**{"3:a": "abc"})), ["t.csv", "row 3", "'a'", "'abc'"],
                 id="csv-not-a-number"),
    pytest.param(csv(table(**{"4:b": "inf"})), ["t.csv", "row 4", "'b'"], id="csv-inf"),
    pytest.param(csv(table(**{"5:b": "-inf"})), ["t.csv", "row 5", "'b'"], id="csv-minus-inf"),
    pytest.param(csv(table(**{"6:b": "nan"})), ["t.csv", "row 6", "'b'"], id="csv-nan"),
    pytest.param(csv(table(**{"3:b": ""})), ["t.csv", "row 3", "'b'", "data.missing"],
                 id="csv-missing-value"),
    pytest.param(csv(table(**{"6:label": "high"}), task="regression"),
                 ["t.csv", "row 6", "'label'", "'high'"], id="csv-regression-target-text"),
    pytest.param(csv(table(**{"9:label": "rare"})), ["t.csv", "'rare'", "row 9"],
                 id="csv-class-with-one-row"),
    pytest.param(csv(table().replace("\n5,", "\n5,1,2,")), ["t.csv", "line 7"],
                 id="csv-ragged-row"),
    pytest.param(csv(""), ["t.csv", "empty"], id="csv-empty-file"),
    pytest.param(csv("a,b,color,label\n"), ["t.csv", "empty"], id="csv-header-only"),
    pytest.param(raw_file("t.parquet", b"not parquet at all"), ["t.parquet"],
                 id="parquet-garbage"),
    pytest.param(csv(TEXT.replace("text,", "review,"), text={"column": "text"}),
                 ["t.csv", "'text'"], id="text-csv-no-text-column"),
    # item 8: a value beyond float32 is refused where it is, not a divergence
    pytest.param(csv(table(**{"4:b": "1e308"})), ["t.csv", "row 4", "'b'", "1e+308"],
                 id="item8-csv-1e308"),
    pytest.param(csv(table(**{"7:a": "-3e39"})), ["t.csv", "row 7", "'a'"],
                 id="item8-csv-minus-3e39"),
    # item 10: every problem, not just the first
    pytest.param(csv(table(**cells(2, 7, 14, column="a", value="x"))),
                 ["t.csv", "3 problems", "row 2", "row 7", "row 14"],
                 id="item10-csv-rows-2-7-14"),
    pytest.param(csv(table(**{"2:a": "x", "7:b": "", "14:b": "inf"})),
                 ["t.csv", "row 2", "row 7", "row 14", "'a'", "'b'"],
                 id="item10-csv-three-kinds"),
    pytest.param(csv(table(**cells(*range(0, 24, 2), column="b", value="?"))),
                 ["t.csv", "12 problems", "row 0", "row 18", "2 more"],
                 id="item10-csv-12-problems-capped"),
    # item 11: one class is no classification
    pytest.param(csv(table(**cells(*range(ROWS), column="label", value="yes"))),
                 ["t.csv", "'label'", "'yes'"], id="item11-csv-single-class"),
    pytest.param(npz(x=X, y=np.zeros(ROWS, np.int64)), ["d.npz", "y"],
                 id="item11-npz-single-class"),
    # item 14: duplicate headers, the line of a bad byte
    pytest.param(csv("a,b,a,label\n" + "1,2,3,0\n1,2,3,1\n" * 10), ["t.csv", "'a'"],
                 id="item14-csv-duplicate-header"),
    pytest.param(csv(table().encode().replace(b"\n8,", b"\n8\xff,")),
                 ["t.csv", "line 10"], id="item14-csv-not-utf8-line"),
    # .npz
    pytest.param(npz(y=Y), ["d.npz", "'x'"], id="npz-no-x"),
    pytest.param(npz(x=X), ["d.npz", "'y'"], id="npz-no-y"),
    pytest.param(npz(x=X, y=Y[:-1]), ["d.npz", f"x has {ROWS} rows", f"y has {ROWS - 1}"],
                 id="npz-length-mismatch"),
    pytest.param(raw_file("d.npz", b"not a zip file"), ["d.npz"], id="item14-npz-garbage"),
    pytest.param(npz(x=np.float32(1), y=Y), ["d.npz"], id="npz-x-scalar"),
    pytest.param(npz(x=X[:, 0], y=Y), ["d.npz", "shape"], id="npz-x-one-axis"),
    pytest.param(npz(x=np.zeros((0, 4), np.float32), y=np.zeros(0, np.int64)),
                 ["d.npz", "empty"], id="npz-empty"),
    pytest.param(npz(x=with_x(7, np.nan), y=Y), ["d.npz", "row 7"], id="npz-x-nan"),
    pytest.param(npz(x=with_x(3, np.inf), y=Y), ["d.npz", "row 3"], id="npz-x-inf"),
    pytest.param(npz(x=with_x(5, 1e300), y=Y), ["d.npz", "row 5"], id="item8-npz-x-1e300"),
    pytest.param(npz(x=X.astype(str), y=Y), ["d.npz", "x"], id="npz-x-strings"),
    pytest.param(npz(x=X.astype(np.complex64), y=Y), ["d.npz", "x"], id="npz-x-complex"),
    pytest.param(npz(x=X, y=np.where(Y == 1, np.nan, 0.0)), ["d.npz", "row 1"],
                 id="npz-y-nan"),
    # images
    pytest.param(images(classes=()), ["imgs", "empty"], id="images-empty-folder"),
    pytest.param(images(extra={"a/notes.jpg": b"plain text, not a picture"}), ["notes.jpg"],
                 id="images-text-file-as-jpg"),
    pytest.param(images(extra={"b/broken.png": b"\x89PNG not really"}), ["broken.png"],
                 id="images-broken-png"),
    pytest.param(images(classes=("a",)), ["imgs", "'a'"], id="item11-images-one-class"),
]


def _train(tmp_path, capsys, data: dict, places, layers=None, **top):
    spec = spec_dict(data, layers or mlp_layers(8, 2, flatten=False), epochs=1,
                     batch_size=16, **top)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "run"
    err = refused(capsys, ["train", path, "--out", out, "--quiet"], *places)
    assert not out.exists(), "refused data must not leave a run folder"
    return err


@pytest.mark.parametrize("make, places", CASES)
def test_bad_data(tmp_path, capsys, make, places):
    data = make(tmp_path)
    task = data.pop("task", None)
    image = not data["source"].endswith((".csv", ".npz", ".parquet"))
    _train(tmp_path, capsys, data, places, IMAGE_MODEL if image else None,
           **({"task": task} if task else {}))


def test_item14_npz_of_objects_never_unpickled(tmp_path, capsys):
    x = np.empty(ROWS, dtype=object)
    x[:] = [[1.0, 2.0]] * ROWS
    np.savez(tmp_path / "d.npz", x=x, y=Y)
    err = _train(tmp_path, capsys, {"source": str(tmp_path / "d.npz")}, ["d.npz", "'x'"])
    assert "never unpickle" in err, err  # says so, instead of numpy's allow_pickle advice


@pytest.mark.parametrize("source, layers, places", [
    pytest.param("breast_cancer", [{"conv2d": {"filters": 4, "kernel": 3}}, {"flatten": {}},
                                   {"dense": 2}], ["model.layers[0]", "(30,)"],
                 id="shape-table-into-conv2d"),
    pytest.param("digits", [{"lstm": 8}, {"dense": 10}], ["model.layers[0]", "(1, 8, 8)"],
                 id="shape-image-into-lstm"),
    pytest.param("iris", [{"embedding": {"vocab": 10, "dim": 4}}, {"flatten": {}},
                          {"dense": 3}], ["model.layers[0]"], id="shape-floats-into-embedding"),
    pytest.param("iris", [{"dense": 8}, {"dense": 4}], ["model.layers[-1]", "3 classes"],
                 id="shape-outputs-not-classes"),
])
def test_data_does_not_fit_model(tmp_path, capsys, source, layers, places):
    _train(tmp_path, capsys, {"source": source}, places, layers)


# ----------------------------------------------------------------------------- item 9
# Inputs at predict (and evaluate) time: non-finite and non-real inputs are refused, row
# named; the shape must fit the model.
def _x_npz(tmp_path, x, **more):
    path = tmp_path / "in.npz"
    np.savez(path, x=x, **more)
    return path


def _inputs(rows: int = 6) -> np.ndarray:
    return np.random.default_rng(1).uniform(1, 6, (rows, 4)).astype(np.float32)


def _text(path, text: str):
    path.write_text(text)
    return path


def _bad(row: int, value, dtype=np.float64) -> np.ndarray:
    x = _inputs().astype(dtype)
    x[row, 1] = value
    return x


PREDICT = [
    pytest.param(lambda t: _x_npz(t, _bad(2, np.nan)), ["in.npz", "row 2"],
                 id="item9-predict-nan-row"),
    pytest.param(lambda t: _x_npz(t, _bad(4, np.inf)), ["in.npz", "row 4"],
                 id="item9-predict-inf-row"),
    pytest.param(lambda t: _x_npz(t, _bad(3, 1e300)), ["in.npz", "row 3"],
                 id="item9-predict-1e300-row"),
    pytest.param(lambda t: _x_npz(t, _inputs().astype(np.complex64)), ["in.npz"],
                 id="item9-predict-complex"),
    pytest.param(lambda t: iris_csv(t / "in.csv", 4, **{"petal width (cm)": [1, 2, "1e308", 3]}),
                 ["in.csv", "row 2", "'petal width (cm)'"], id="item9-predict-csv-1e308"),
    pytest.param(lambda t: iris_csv(t / "in.csv", 4, **{"petal width (cm)": [1, "inf", 2, 3]}),
                 ["in.csv", "row 1", "'petal width (cm)'"], id="item9-predict-csv-inf"),
    pytest.param(lambda t: iris_csv(t / "in.csv", 4, **{"sepal width (cm)": [1, "w", 2, "z"]}),
                 ["in.csv", "row 1", "row 3", "'sepal width (cm)'"],
                 id="item10-predict-csv-two-bad-rows"),
    pytest.param(lambda t: _x_npz(t, np.ones((3, 5), np.float32)), ["(5,)", "(4,)"],
                 id="predict-npz-wrong-width"),
    pytest.param(lambda t: _x_npz(t, np.ones((3, 1, 8, 8), np.float32)), ["(1, 8, 8)", "(4,)"],
                 id="predict-npz-image-into-table"),
    pytest.param(lambda t: _x_npz(t, np.ones((3, 4)).astype(str)), ["in.npz"],
                 id="predict-npz-strings"),
    pytest.param(lambda t: _text(t / "in.csv", "a,b\n1,2\n"),
                 ["in.csv", "'sepal length (cm)'"], id="predict-csv-columns-missing"),
    pytest.param(lambda t: _text(t / "in.csv", ""), ["in.csv"],
                 id="predict-csv-empty"),
]


@pytest.mark.parametrize("make, places", PREDICT)
def test_bad_predict_inputs(tmp_path, capsys, iris_run, make, places):
    refused(capsys, ["predict", iris_run, make(tmp_path)], *places)


def test_item9_out_of_range_inputs_warn(tmp_path, capsys, iris_run):
    """Inputs far outside the training range are predicted, with a warning naming them."""
    path = iris_csv(tmp_path / "in.csv", 3, **{"petal length (cm)": [1, 500, 2]})
    code, out, err = cli(capsys, ["predict", iris_run, path])
    assert code == 0, err
    assert len(out.splitlines()) == 4
    assert "petal length (cm)" in err, err


@pytest.mark.parametrize("make, places", [
    pytest.param(lambda t: _x_npz(t, _bad(2, np.nan), y=np.arange(6) % 3),
                 ["in.npz", "row 2"], id="item9-evaluate-nan-row"),
    pytest.param(lambda t: _x_npz(t, _inputs(), y=np.array([0, 1, 2, 0, 1, 7])),
                 ["in.npz", "7"], id="evaluate-unknown-label"),
    pytest.param(lambda t: iris_csv(t / "in.csv", 4), ["in.csv", "target"],
                 id="evaluate-csv-no-target"),
    pytest.param(lambda t: _x_npz(t, _inputs()), ["in.npz", "'y'"], id="evaluate-npz-no-y"),
])
def test_bad_evaluate_data(tmp_path, capsys, iris_run, make, places):
    refused(capsys, ["evaluate", iris_run, "--data", make(tmp_path)], *places)
