"""data.interactions: leave-last-out per user, negatives the user never chose, seeded;
the queries of validation and test ranked by HR@k, NDCG@k and MRR."""

import numpy as np
import pandas as pd
import pytest

import deepnet
from deepnet.data.prepare import prepare
from deepnet.spec import Spec


def table(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(40):
        for t, i in enumerate(rng.choice(60, rng.integers(1, 12), replace=False)):
            rows.append((f"u{u}", f"i{i}", t))
    frame = pd.DataFrame(rows, columns=["who", "what", "when"])
    frame = frame.sample(frac=1, random_state=0)  # time order is the column's, not the file's
    path = tmp_path / "interactions.csv"
    frame.to_csv(path, index=False)
    return frame, path


def spec(path, **interactions):
    return Spec.from_dict({
        "data": {"source": str(path), "normalize": "none",
                 "categorical": {"who": {"embedding": 8}, "what": {"embedding": 8}},
                 "interactions": {"user": "who", "item": "what", "time": "when",
                                  "negatives": 3, "eval_negatives": 20, **interactions}},
        "model": {"inputs": {"who": [], "what": []}, "merge": "dot", "layers": [{"dense": 2}]},
        "train": {"epochs": 2, "metrics": ["hr@10", "ndcg@10", "mrr"]}})


def decoded(p, idx):
    enc = p.encoding
    cats = [np.asarray(["?", *c.categories], dtype=object) for c in enc.columns]
    x = p.dataset.x[idx].astype(int)
    return cats[0][x[:, 0]], cats[1][x[:, 1]], p.dataset.y[idx]


def test_leave_last_out_with_unseen_negatives(tmp_path):
    frame, path = table(tmp_path)
    p = prepare(spec(path))
    seen = frame.groupby("who").what.agg(set)
    last = frame.sort_values("when").groupby("who").what.agg(list)
    assert set(p.encoding.columns[0].categories) == set(frame.who)  # every user trains
    for part, back in (("test", 1), ("val", 2)):
        idx = p.splits[part]
        users, items, y = decoded(p, idx)
        groups = p.dataset.groups[idx]
        for g in np.unique(groups):
            rows = groups == g
            user = users[rows][0]
            assert (users[rows] == user).all() and y[rows].sum() == 1
            held = items[rows][y[rows] == 1][0]
            assert len(last[user]) >= (2 if part == "test" else 3)
            assert held == last[user][-back]  # the user's last (or the one before)
            negatives = [i for i in items[rows][y[rows] == 0] if i != "?"]
            assert len(items[rows]) == 21 and not set(negatives) & seen[user]
        assert len(np.unique(groups)) == sum(len(v) >= (2 if part == "test" else 3)
                                             for v in last)
    users, items, y = decoded(p, p.splits["train"])
    for user, item in zip(users[y == 0], items[y == 0], strict=True):
        assert item == "?" or item not in seen[user]
    assert (y == 0).sum() == 3 * (y == 1).sum()  # `negatives` per interaction
    again = prepare(spec(path))
    assert np.array_equal(again.dataset.x, p.dataset.x)  # seeded
    other = prepare(spec(path, seed=1))
    assert not np.array_equal(other.dataset.x, p.dataset.x)


def test_repeats_count_once_and_the_split_is_the_users(tmp_path):
    path = tmp_path / "repeats.csv"
    pd.DataFrame({"who": ["a"] * 4 + ["b"] * 3, "what": ["x", "y", "x", "z", "x", "y", "w"],
                  "when": [0, 1, 2, 3, 0, 1, 2]}).to_csv(path, index=False)
    p = prepare(spec(path, eval_negatives=1))
    users, items, y = decoded(p, p.splits["test"])
    assert sorted(items[y == 1]) == ["w", "z"]  # the repeated x is not held out
    users, items, y = decoded(p, p.splits["train"])
    assert sorted(zip(users[y == 1], items[y == 1], strict=True)) == [("a", "x"), ("b", "x")]
    with pytest.raises(deepnet.SpecError, match="data.split does not apply"):
        Spec.from_dict({**spec(path).to_dict(), "data": {**spec(path).to_dict()["data"],
                                                         "split": {"val": 0.3}}})
    again = deepnet.train(spec(path, eval_negatives=1), out=tmp_path / "r", quiet=True,
                          report=False)
    model = deepnet.build(spec(path, eval_negatives=1))  # the front, as training built it
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in again.model.parameters())


def test_eval_against_all_items(tmp_path):
    frame, path = table(tmp_path)
    p = prepare(spec(path, eval_negatives="all"))
    seen = frame.groupby("who").what.agg(set)
    users, items, y = decoded(p, p.splits["test"])
    groups = p.dataset.groups[p.splits["test"]]
    catalogue = frame.what.nunique()
    for g in np.unique(groups):
        user = users[groups == g][0]
        assert (groups == g).sum() == catalogue - len(seen[user]) + 1  # every unseen item


def test_ranking_metrics_in_results_and_refused_without_queries(tmp_path):
    _, path = table(tmp_path)
    run = deepnet.train(spec(path), out=tmp_path / "run", quiet=True, report=False)
    assert set(run.results.test) >= {"hr@10", "ndcg@10", "mrr"}
    assert 0 <= run.results.test["ndcg@10"] <= run.results.test["hr@10"] <= 1
    assert "val_hr@10" in run.history[-1] and "train_hr@10" not in run.history[-1]
    plain = Spec.from_yaml("examples/breast_cancer.yaml", ["train.metrics=[accuracy, mrr]"])
    with pytest.raises(deepnet.SpecError, match="mrr rank each user's held-out item"):
        deepnet.train(plain, out=tmp_path / "no", quiet=True)
    assert not (tmp_path / "no").exists()
