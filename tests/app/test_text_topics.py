"""Real text (issue 19): examples/text_topics.yaml, trained as a user would, against
TF-IDF + logistic regression from scikit-learn on the same split of the Debian package
descriptions, the baseline's C chosen on validation (bench/text_topics.py's, loaded
from the file so that the test and the benchmark hold the same baseline); the run is
diagnosed healthy, and `predict` on the raw test texts agrees with its test figures."""

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

import deepnet
from deepnet.cli import main
from deepnet.data.prepare import prepare
from deepnet.runs.load import load

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
    assert not [f for f in findings if f.severity != "info"], findings[0].explanation
    # predict reads raw text with the saved vocabulary and idf: the test split again
    test = frame.iloc[prepared.splits["test"]]
    predicted = run.predict(test[["text"]])
    assert (predicted == test.section.to_numpy()).mean() == pytest.approx(ours["accuracy"],
                                                                           abs=1e-6)
