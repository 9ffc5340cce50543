"""The data examples reach their accuracy, and `deepnet predict` on raw files (CSV, image
folder, text CSV) gives the classes that `deepnet evaluate` scores on the same rows."""

import csv
import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from deepnet.cli import main
from deepnet.data.images import list_folder
from deepnet.data.prepare import prepare
from deepnet.runs.load import load


def train_example(name, tmp_path, capsys, *sets):
    out = tmp_path / "run"
    args = ["train", f"examples/{name}.yaml", "--out", str(out), "--json"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    return out, result["test"]


def predict_and_evaluate(run_dir, path, capsys):
    """(predicted classes, predict's CSV rows, evaluate's metrics) for one input."""
    assert main(["predict", str(run_dir), str(path)]) == 0, capsys.readouterr().err
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert main(["evaluate", str(run_dir), "--data", str(path), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    return [r["class"] for r in rows], rows, metrics


def check_same_as_evaluate(run_dir, classes, labels, metrics, capsys):
    """predict's classes are the model's on the run's own test split, as evaluate sees it,
    and score what evaluate reports."""
    run = load(run_dir)
    prepared = prepare(run.spec)
    x, y = prepared.arrays("test")
    import torch

    with torch.no_grad():
        want = np.asarray(run.classes)[run.model(torch.as_tensor(x)).argmax(1).numpy()]
    assert classes == list(want)
    assert labels == [run.classes[i] for i in y]
    accuracy = np.mean(np.asarray(classes) == np.asarray(labels))
    assert metrics["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert main(["evaluate", str(run_dir), "--json"]) == 0
    own = json.loads(capsys.readouterr().out)
    assert own["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)
    return run, prepared


def test_breast_cancer_example_and_predict_on_raw_csv(tmp_path, capsys):
    run_dir, test = train_example("breast_cancer", tmp_path, capsys)
    assert test["accuracy"] >= 0.95
    run = load(run_dir)
    prepared = prepare(run.spec)
    idx = prepared.splits["test"]
    names = [c.name for c in run.encoding.columns]
    frame = pd.DataFrame(prepared.dataset.x[idx], columns=names)
    labels = [run.classes[i] for i in prepared.dataset.y[idx]]
    frame.insert(0, "target", labels)  # raw rows, as a user would have them
    frame.to_csv(tmp_path / "rows.csv", index=False)
    classes, _, metrics = predict_and_evaluate(run_dir, tmp_path / "rows.csv", capsys)
    check_same_as_evaluate(run_dir, classes, labels, metrics, capsys)


@pytest.mark.slow  # run by .ci/run after the default suite
def test_image_folder_example_and_predict_on_a_folder(tmp_path, capsys):
    run_dir, test = train_example("images", tmp_path, capsys)
    assert test["accuracy"] >= 0.95
    run = load(run_dir)
    idx = prepare(run.spec).splits["test"]
    paths, labels, _ = list_folder(__import__("pathlib").Path("examples/data/digits_png"))
    folder = tmp_path / "new"
    for i in idx:
        (folder / labels[i]).mkdir(parents=True, exist_ok=True)
        shutil.copy(paths[i], folder / labels[i] / paths[i].name)
    classes, rows, metrics = predict_and_evaluate(run_dir, folder, capsys)
    assert [r["path"].split("/")[-1] for r in rows] == [paths[i].name for i in idx]
    check_same_as_evaluate(run_dir, classes, [labels[i] for i in idx], metrics, capsys)
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in idx[:5]:
        shutil.copy(paths[i], flat / paths[i].name)
    assert main(["predict", str(run_dir), str(flat)]) == 0
    out = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["class"] for r in out] == classes[:5]


def test_text_example_and_predict_on_a_text_csv(tmp_path, capsys):
    run_dir, test = train_example("text_sentiment", tmp_path, capsys)
    assert test["accuracy"] >= 0.85
    run = load(run_dir)
    idx = prepare(run.spec).splits["test"]
    frame = pd.read_csv("examples/data/sentiment.csv").iloc[idx]
    frame.to_csv(tmp_path / "reviews.csv", index=False)
    classes, _, metrics = predict_and_evaluate(run_dir, tmp_path / "reviews.csv", capsys)
    check_same_as_evaluate(run_dir, classes, list(frame["label"]), metrics, capsys)
    frame[["text"]].iloc[:3].to_csv(tmp_path / "unlabelled.csv", index=False)
    assert main(["predict", str(run_dir), str(tmp_path / "unlabelled.csv")]) == 0
    out = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["class"] for r in out] == classes[:3]


@pytest.mark.slow  # run by .ci/run after the default suite
def test_digits_with_augmentation_keeps_its_accuracy(tmp_path, capsys):
    _, test = train_example("digits", tmp_path, capsys,
                            "data.augment=[rotate: 10, scale: [0.9, 1.1], noise: 0.05]")
    assert test["accuracy"] >= 0.96
