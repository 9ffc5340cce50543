"""examples/text_topics.yaml against TF-IDF + logistic regression (scikit-learn) on the
same split of examples/data/debian_sections.csv.gz: test macro-F1 and accuracy of both,
the baseline's C chosen on the validation split; a table, then one JSON line.

    .venv/bin/python bench/text_topics.py [PATH=VALUE ...]   # overrides, as --set takes

Goal (issue 19): deepnet's macro-F1 at least the baseline's.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import deepnet  # noqa: E402
from deepnet.data.prepare import prepare  # noqa: E402


def baseline(prepared, frame: pd.DataFrame) -> dict[str, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    train, val, test = (prepared.splits[p] for p in ("train", "val", "test"))
    y = frame.section.to_numpy()
    best = None
    for c in (1.0, 4.0, 16.0):
        tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2))
        model = LogisticRegression(C=c, max_iter=2000).fit(
            tfidf.fit_transform(frame.text.iloc[train]), y[train])
        score = f1_score(y[val], model.predict(tfidf.transform(frame.text.iloc[val])),
                         average="macro")
        if best is None or score > best[0]:
            pred = model.predict(tfidf.transform(frame.text.iloc[test]))
            best = (score, {"f1": f1_score(y[test], pred, average="macro"),
                            "accuracy": accuracy_score(y[test], pred), "C": c})
    return best[1]


def main() -> None:
    spec = deepnet.Spec.from_yaml(ROOT / "examples/text_topics.yaml", sys.argv[1:])
    frame = pd.read_csv(ROOT / spec.data.source)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run = deepnet.train(spec, out=Path(tmp) / "run", quiet=True, report=False)
    seconds = time.perf_counter() - started
    base = baseline(prepare(spec), frame)
    ours = run.results.test
    print(f"{'model':<34} {'macro-F1':>9} {'accuracy':>9}")
    print(f"{'deepnet (examples/text_topics)':<34} {ours['f1']:>9.4f} {ours['accuracy']:>9.4f}")
    print(f"{'TF-IDF + logistic regression':<34} {base['f1']:>9.4f} {base['accuracy']:>9.4f}"
          f"   (C={base['C']:g}, chosen on validation)")
    print(json.dumps({"deepnet_f1": round(ours["f1"], 4), "baseline_f1": round(base["f1"], 4),
                      "ratio": round(ours["f1"] / base["f1"], 4),
                      "deepnet_seconds": round(seconds, 1), "goal_met": ours["f1"] >= base["f1"]}))


if __name__ == "__main__":
    np.random.seed(0)
    main()
