"""Real text (issue 19): examples/text_topics.yaml, trained as a user would, against
TF-IDF + logistic regression from scikit-learn on the same split of the Debian package
descriptions, the baseline's C chosen on validation (bench/text_topics.py's, loaded
from the file so that the test and the benchmark hold the same baseline); the run is
diagnosed healthy, and `predict` on the raw test texts agrees with its test figures.
A run of the same layer resumes bit-exactly after a kill."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from safetensors.torch import load_file

import deepnet
from deepnet.cli import main
from deepnet.data.prepare import prepare
from deepnet.runs.load import load
from factory import kill_then_resume, same_tensors

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("text_topics",
                                                  ROOT / "bench" / "text_topics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_text_topics_reaches_tfidf_logistic_regression(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "examples/text_topics.yaml", "--out", str(out), "--json"]) == 0, \
        capsys.readouterr().err
    ours = json.loads(capsys.readouterr().out)["test"]
    run = load(out)
    prepared, frame = prepare(run.spec), pd.read_csv(ROOT / run.spec.data.source)
    base = _bench().baseline(prepared, frame)
    print(f"deepnet macro-F1 {ours['f1']:.4f}, TF-IDF + LR {base['f1']:.4f}")
    assert ours["f1"] >= base["f1"]
    assert ours["f1"] > 0.75 and base["f1"] > 0.75  # both read the texts well
    findings = deepnet.diagnose(run)  # a healthy run (as every example's is checked)
    bad = [f for f in findings if f.severity != "info"]
    assert not bad, bad[0].explanation
    # predict reads raw text with the saved vocabulary and idf: the test split again
    test = frame.iloc[prepared.splits["test"]]
    predicted = run.predict(test[["text"]])
    assert (predicted == test.section.to_numpy()).mean() == pytest.approx(ours["accuracy"],
                                                                           abs=1e-6)


def test_an_embeddingbag_run_resumes_bit_exactly_with_its_idf(tmp_path):
    """Killed after its third checkpoint and resumed, a tf-idf bag of word pairs trained
    with the linear schedule ends with the weights (and idf) of an uninterrupted run."""
    g = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    labels = g.integers(0, 3, 240)
    texts = [" ".join(g.choice(words[k * 20:(k + 1) * 20] + words, g.integers(3, 12)))
             for k in labels]
    pd.DataFrame({"text": texts, "label": labels}).to_csv(tmp_path / "t.csv", index=False)
    spec = {"name": "bag", "seed": 0, "data": {
        "source": str(tmp_path / "t.csv"), "target": "label",
        "text": {"max_len": 24, "vocab_size": 400, "ngrams": 2}},
        "model": {"layers": [{"embeddingbag": {"vocab": 400, "dim": 8}}, {"dense": 3}]},
        "train": {"epochs": 6, "batch_size": 16, "optimizer": {"name": "sgd", "lr": 1.0},
                  "schedule": "linear"}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    full = deepnet.train(deepnet.Spec.from_yaml(path), out=tmp_path / "full", quiet=True)
    killed = kill_then_resume(path, tmp_path / "killed", "checkpoint:3")
    assert same_tensors(full.path, killed)
    saved = load_file(killed / "model.safetensors")
    idf = next(v for k, v in saved.items() if k.endswith("idf"))
    assert idf[2:].min() > 1 and len(set(idf[2:].tolist())) > 3  # fitted, not all ones
