"""Given splits (issue 22, item 1): data.split.val/test as a file of the same form as the
source (a table, an .npz of x and y) or as the rows of a table's column. Those rows stay
in their part and the test figures are theirs; a fraction splits the other rows. Bad
forms are exit 2 naming the place."""

import numpy as np
import pandas as pd
import pytest

import deepnet
from deepnet.cli import main


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                         "label": np.where(x[:, 0] + x[:, 1] > 0, "yes", "no")})


def _spec(source, split: dict) -> dict:
    return {"name": "g", "seed": 0, "data": {"source": str(source), "target": "label",
                                             "split": split},
            "model": [{"dense": {"units": 8, "activation": "relu"}}, {"dense": 2}],
            "train": {"epochs": 3, "optimizer": {"lr": 0.01}}}


def test_a_test_file_is_the_test_split(tmp_path):
    _frame(300, 0).to_csv(tmp_path / "train.csv", index=False)
    test = _frame(80, 1)
    test[["label", "c", "a", "b"]].to_csv(tmp_path / "test.csv", index=False)  # any order
    run = deepnet.train(_spec(tmp_path / "train.csv", {"val": 0.2, "test": str(tmp_path /
                                                                           "test.csv")}),
                        out=tmp_path / "r", quiet=True)
    assert run.results.samples == {"train": 240, "val": 60, "test": 80}
    again = deepnet.evaluate(run, data=str(tmp_path / "test.csv"))
    assert again["accuracy"] == pytest.approx(run.results.test["accuracy"])
    assert (run.path / "report.html").is_file()


def test_a_column_names_the_parts_and_is_no_feature(tmp_path):
    frame = _frame(400, 2).assign(fold=["train"] * 250 + ["dev"] * 50 + ["test"] * 100)
    frame.loc[300, "a"] = np.nan  # a test row dropped for its missing value
    spec = _spec("memory", {"val": {"column": "fold", "value": "dev"},
                            "test": {"column": "fold", "value": ["test"]}})
    spec["data"]["missing"] = "drop"
    run = deepnet.train(spec, data=frame, out=tmp_path / "r", quiet=True, report=False)
    assert run.results.samples == {"train": 250, "val": 50, "test": 99}
    assert [c.name for c in run.encoding.columns] == ["a", "b", "c"]


def test_an_npz_test_file(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("train", 200), ("test", 50)):
        x = rng.normal(size=(n, 4)).astype(np.float32)
        np.savez(tmp_path / f"{name}.npz", x=x, y=(x[:, 0] > 0).astype(int))
    spec = _spec(tmp_path / "train.npz", {"val": 0.25, "test": str(tmp_path / "test.npz")})
    del spec["data"]["target"]
    run = deepnet.train(spec, out=tmp_path / "r", quiet=True, report=False)
    assert run.results.samples == {"train": 150, "val": 50, "test": 50}


@pytest.mark.parametrize("split, where, words", [
    ({"test": "other.csv"}, "data.split.test", "it also has ['d']; it lacks ['c', 'fold']"),
    ({"test": "missing.csv"}, "data.split.test", "not found"),
    ({"test": {"column": "fold", "value": "tset"}}, "data.split.test.value",
     "['tset'] do not occur in column 'fold'"),
    ({"val": {"column": "folds", "value": "dev"}}, "data.split.val.column",
     "has no column 'folds'"),
])
def test_bad_given_splits_are_refused_naming_the_place(tmp_path, capsys, split, where,
                                                       words):
    _frame(100, 0).assign(fold=["train"] * 80 + ["test"] * 20).to_csv(tmp_path / "d.csv",
                                                                      index=False)
    _frame(20, 1).rename(columns={"c": "d"}).to_csv(tmp_path / "other.csv", index=False)
    split = {k: str(tmp_path / v) if isinstance(v, str) else v for k, v in split.items()}
    with pytest.raises(deepnet.DataError) as e:
        deepnet.train(_spec(tmp_path / "d.csv", split), out=tmp_path / "r", quiet=True)
    assert e.value.path == where and words in str(e.value), str(e.value)
    path = tmp_path / "s.yaml"
    deepnet.Spec.from_dict(_spec(tmp_path / "d.csv", split)).to_yaml(path)
    assert main(["train", str(path), "--out", str(tmp_path / "cli"), "--quiet"]) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "cli").exists()


def test_given_parts_where_the_data_cannot_have_them(tmp_path):
    x = np.zeros((30, 4), np.float32)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(30) % 2)
    spec = _spec(tmp_path / "a.npz", {"test": {"column": "fold", "value": 1}})
    del spec["data"]["target"]
    with pytest.raises(deepnet.DataError, match="give the part as an .npz file"):
        deepnet.summary({**spec, "train": {"epochs": 1}}, tflops=1.0)
    digits = {"name": "g", "data": {"source": "digits", "split": {"test": str(tmp_path /
                                                                              "a.npz")}},
              "model": [{"flatten": {}}, {"dense": 10}]}
    with pytest.raises(deepnet.DataError, match="tables and .npz arrays can have") as e:
        deepnet.train(digits, out=tmp_path / "r", quiet=True)
    assert e.value.path == "data.split"
    with pytest.raises(deepnet.SpecError, match="below 1"):
        deepnet.Spec.from_dict(digits, ["data.split.val=0.5", "data.split.test=0.6"])
