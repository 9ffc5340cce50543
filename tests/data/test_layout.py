"""data.layout: sequence (issue 22, item 2): a 2-D array, or a table's numeric feature
columns, read as sequences of one feature (N, T, 1), normalised per feature (one mean and
scale, not one per step), said so in the summary; predict takes the (N, T) form; the
layout on data that are not sequences is exit 2 naming data.layout."""

import numpy as np
import pandas as pd
import pytest

import deepnet
from deepnet.cli import main


def _signals(n: int = 300, steps: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    t = np.linspace(0, 1, steps)
    x = np.sin(2 * np.pi * (2 + 3 * y[:, None]) * t) * 5 + 10 + rng.normal(0, 0.5, (n, steps))
    return x.astype(np.float32), y


def _spec(source: str, layout: str = "sequence") -> dict:
    return {"name": "s", "seed": 0, "task": "classification",
            "data": {"source": source, "layout": layout},
            "model": {"layers": [{"conv1d": {"filters": 8, "kernel": 5, "activation": "relu"}},
                                 {"globalavgpool": {}}, {"dense": 2}]},
            "train": {"epochs": 8, "batch_size": 32, "optimizer": {"lr": 0.01}}}


def test_an_array_is_read_as_sequences_and_predict_takes_it_flat(tmp_path):
    x, y = _signals()
    np.savez(tmp_path / "s.npz", x=x, y=y)
    spec = _spec(str(tmp_path / "s.npz"))
    s = deepnet.summary(spec)
    assert s.input_shape == (40, 1)
    assert s.normalisation.startswith("standard, per feature (1 standard scaling, over the "
                                      "samples and the time steps)")
    run = deepnet.train(spec, out=tmp_path / "r", quiet=True, report=False)
    assert run.input_shape == (40, 1) and run.preprocess.shift.shape == (1, 1)
    train = run.preprocess.shift.item()
    assert abs(train - x.mean()) < 0.5  # one mean over samples and steps
    assert run.results.test["accuracy"] > 0.9
    assert np.array_equal(run.predict(x[:5]), run.predict(x[:5, :, None]))
    spec = _spec(str(tmp_path / "s.npz"), "auto")
    spec["model"]["layers"] = [{"dense": 2}]
    auto = deepnet.summary(spec)
    assert auto.normalisation.startswith("standard, per column (40 standard scalings")


def test_a_table_of_numeric_columns_is_read_as_sequences(tmp_path):
    x, y = _signals(60, 12)
    frame = pd.DataFrame(x, columns=[f"t{i}" for i in range(12)]).assign(label=y)
    frame.to_csv(tmp_path / "s.csv", index=False)
    spec = _spec(str(tmp_path / "s.csv"))
    spec["data"]["target"] = "label"
    spec["train"]["epochs"] = 1
    assert deepnet.summary(spec).input_shape == (12, 1)
    spec["data"]["missing"] = "impute"  # refitted on the training rows: still sequences
    run = deepnet.train(spec, out=tmp_path / "r", quiet=True, report=False)
    assert run.input_shape == (12, 1)
    assert run.predict(frame.drop(columns="label").head(3)).shape == (3,)


def test_sequences_of_features_stay_and_images_are_refused(tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(50, 10, 3)).astype(np.float32)
    np.savez(tmp_path / "f.npz", x=x, y=np.arange(50) % 2)
    assert deepnet.summary(_spec(str(tmp_path / "f.npz"))).input_shape == (10, 3)
    spec = _spec("digits")
    with pytest.raises(deepnet.DataError, match="data.layout: sequence reads samples") as e:
        deepnet.summary(spec)
    assert e.value.path == "data.layout" and "(1, 8, 8)" in str(e.value)
    path = tmp_path / "img.yaml"
    deepnet.Spec.from_dict(spec).to_yaml(path)
    assert main(["train", str(path), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "remove data.layout" in capsys.readouterr().err and not (tmp_path / "r").exists()
