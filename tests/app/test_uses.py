"""The seed's uses on their examples, each trained as a user would (`deepnet train
examples/<name>.yaml`) and held against the classical method a practitioner would try
first, measured in the same test on the same split: a recommender against the most
popular items and ALS (the `implicit` package), fraud against scikit-learn's gradient
boosting, a health table against logistic regression."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from deepnet.cli import main
from deepnet.data.prepare import prepare
from deepnet.runs.load import load
from deepnet.train.metrics import METRICS, expected_calibration_error

pytestmark = pytest.mark.slow


def train_example(name, tmp_path, capsys):
    out = tmp_path / name
    assert main(["train", f"examples/{name}.yaml", "--out", str(out), "--json"]) == 0, \
        capsys.readouterr().err
    json.loads(capsys.readouterr().out)
    run = load(out)
    return run, prepare(run.spec)


# ----------------------------------------------------------------------------- recommender
def ranking(prepared, part, score):
    """HR@10, NDCG@10 and MRR of `score(user codes, item codes)` on a split's queries."""
    ds = prepared.dataset
    idx = prepared.splits[part]
    users, items = ds.x[idx, 0].astype(int), ds.x[idx, 1].astype(int)
    s = torch.as_tensor(score(users, items), dtype=torch.float32)
    out = torch.stack([torch.zeros_like(s), s], dim=1)  # [0, s]: ranked by s
    y, groups = torch.as_tensor(ds.y[idx]), ds.groups[idx]
    return {m: METRICS[m].compute(out, y, groups) for m in ("hr@10", "ndcg@10", "mrr")}


def als_scores(prepared):
    """ALS by `implicit` on the training interactions, its factors and regularisation
    chosen on the validation queries: score(user codes, item codes)."""
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    ds = prepared.dataset
    train = prepared.splits["train"]
    positive = train[ds.y[train] == 1]
    users, items = ds.x[positive, 0].astype(int), ds.x[positive, 1].astype(int)
    shape = (int(ds.x[:, 0].max()) + 1, int(ds.x[:, 1].max()) + 1)
    matrix = sp.csr_matrix((np.ones(len(positive)), (users, items)), shape=shape)
    best = None
    for factors in (16, 32, 64):
        for regularization in (0.05, 1.0):
            als = AlternatingLeastSquares(factors=factors, regularization=regularization,
                                          alpha=10.0, iterations=15, random_state=0)
            with threadpool_limits(1, "blas"):
                als.fit(matrix, show_progress=False)
            u, v = np.asarray(als.user_factors), np.asarray(als.item_factors)

            def score(uu, ii, u=u, v=v):
                return (u[uu] * v[ii]).sum(1)

            val = ranking(prepared, "val", score)["hr@10"]
            if best is None or val > best[0]:
                best = (val, score)
    return best[1], matrix


def test_recommender_beats_popularity_and_matches_als(tmp_path, capsys):
    run, prepared = train_example("recommender", tmp_path, capsys)
    ours = run.results.test
    als, matrix = als_scores(prepared)
    popularity = np.asarray(matrix.sum(0)).ravel()
    pop = ranking(prepared, "test", lambda uu, ii: popularity[ii])
    base = ranking(prepared, "test", als)
    print(f"recommender HR@10/NDCG@10: deepnet {ours['hr@10']:.4f}/{ours['ndcg@10']:.4f}, "
          f"ALS {base['hr@10']:.4f}/{base['ndcg@10']:.4f}, "
          f"popular {pop['hr@10']:.4f}/{pop['ndcg@10']:.4f}")
    assert ours["hr@10"] >= pop["hr@10"] + 0.15  # a wide margin over popularity
    assert ours["ndcg@10"] >= pop["ndcg@10"] + 0.10
    assert ours["hr@10"] >= base["hr@10"]
    assert ours["ndcg@10"] >= base["ndcg@10"]


def test_ranking_metrics_equal_scikit_learns_ndcg():
    """HR@10 and NDCG@10 on groups of one relevant item among 99: scikit-learn's
    ndcg_score (with k) and a plain count of the ranks."""
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(0)
    groups, size = 300, 100
    relevant = np.zeros((groups, size))
    relevant[np.arange(groups), rng.integers(0, size, groups)] = 1
    score = rng.normal(size=(groups, size)) + 2.0 * relevant
    out = torch.stack([torch.zeros(groups * size), torch.as_tensor(score.ravel())], 1).float()
    y, g = torch.as_tensor(relevant.ravel().astype(np.int64)), np.repeat(np.arange(groups), size)
    ranks = (score > score[relevant == 1][:, None]).sum(1) + 1
    assert METRICS["ndcg@10"].compute(out, y, g) == pytest.approx(
        ndcg_score(relevant, score, k=10), abs=1e-6)
    assert METRICS["hr@10"].compute(out, y, g) == pytest.approx(np.mean(ranks <= 10))
    assert METRICS["mrr"].compute(out, y, g) == pytest.approx(np.mean(1 / ranks))


# ----------------------------------------------------------------------------- fraud
def test_fraud_pr_auc_within_002_of_gradient_boosting(tmp_path, capsys):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import average_precision_score

    run, prepared = train_example("fraud", tmp_path, capsys)
    frame = pd.read_csv("examples/data/transactions.csv")
    x = frame.drop(columns=["fraud"])
    x["user"] = x.user.str[1:].astype(int)
    x["merchant"] = x.merchant.astype("category").cat.codes
    y = frame.fraud.to_numpy()
    train, val, test = (prepared.splits[p] for p in ("train", "val", "test"))
    assert len(prepared.dataset.y) == len(frame)  # no row dropped: the same split
    best = None
    for lr, iterations in ((0.1, 200), (0.05, 400)):  # chosen on the validation split
        gb = HistGradientBoostingClassifier(
            learning_rate=lr, max_iter=iterations, random_state=0,
            categorical_features=[x.columns.get_loc("merchant")])
        gb.fit(x.iloc[train], y[train])
        val_ap = average_precision_score(y[val], gb.predict_proba(x.iloc[val])[:, 1])
        if best is None or val_ap > best[0]:
            best = (val_ap, average_precision_score(y[test],
                                                    gb.predict_proba(x.iloc[test])[:, 1]))
    ours = run.results.test["pr_auc"]
    proba = run.predict_proba(frame.iloc[test])[:, list(run.labels).index(1)]
    assert ours == pytest.approx(average_precision_score(y[test], proba), abs=1e-6)
    print(f"fraud test PR-AUC: deepnet {ours:.4f}, gradient boosting {best[1]:.4f}")
    assert ours >= best[1] - 0.02
    threshold = run.results.threshold
    assert run.meta.threshold == threshold["value"]
    predicted = run.predict(frame.iloc[test])
    assert np.array_equal(predicted == 1, proba >= threshold["value"])
    assert threshold["test"]["recall"] == pytest.approx(
        ((proba >= threshold["value"]) & (y[test] == 1)).sum() / (y[test] == 1).sum())


# ----------------------------------------------------------------------------- health
def test_health_calibrated_against_logistic_regression(tmp_path, capsys):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    run, prepared = train_example("health", tmp_path, capsys)
    frame = pd.read_csv("examples/data/health.csv")
    y = (frame.diagnosis == "malignant").to_numpy().astype(int)
    x = frame.drop(columns=["diagnosis"])
    bands = [c for c in x if c.endswith("_band")]
    train, test = prepared.splits["train"], prepared.splits["test"]
    lr = make_pipeline(make_column_transformer((OneHotEncoder(), bands),
                                               remainder=StandardScaler()),
                       LogisticRegression(max_iter=5000))
    lr.fit(x.iloc[train], y[train])
    p = lr.predict_proba(x.iloc[test])
    base = {"accuracy": accuracy_score(y[test], p.argmax(1)),
            "roc_auc": roc_auc_score(y[test], p[:, 1]),
            "ece": expected_calibration_error(torch.log(torch.as_tensor(p)),
                                              torch.as_tensor(y[test]))}
    ours = run.results.test
    print(f"health test: deepnet {ours}, logistic regression {base}")
    assert ours["roc_auc"] >= base["roc_auc"] - 0.01
    assert ours["accuracy"] >= base["accuracy"] - 0.02
    assert ours["ece"] <= base["ece"]
    c = run.results.calibration
    assert c["val_nll_after"] <= c["val_nll_before"] + 1e-6
    assert {c.type for c in run.encoding.columns if c.name in bands} == {"embedding"}
    report = (run.path / "report.html").read_text()
    assert "Reliability" in report


# ----------------------------------------------------------------------------- forecasting
def test_co2_forecast_beats_seasonal_naive_and_ets(tmp_path, capsys):
    """On the test period's non-overlapping windows (every 13th origin): MASE at least 20%
    below the seasonal naive forecast and no worse than statsmodels' exponential smoothing
    (additive trend and season of 52 weeks, fitted at each origin on the ten years
    before it)."""
    import warnings

    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    from deepnet.data.sources import SERIES
    from deepnet.train.metrics import forecast_scores

    run, prepared = train_example("forecast_co2", tmp_path, capsys)
    enc, ds = run.encoding, prepared.dataset
    values = SERIES["co2"]().to_numpy()[:, 0]
    horizon, scale = enc.horizon, enc.scale[0]
    every = prepared.splits["test"][::horizon]
    origins = ds.origins[every]
    truth = np.stack([values[o:o + horizon] for o in origins])
    ours = enc.decode(run.predict_outputs(ds.x[every]).numpy(), ds.levels[every])
    assert np.allclose(ours[0], run.forecast(values[:origins[0]]), atol=1e-4)
    naive = np.stack([values[o - enc.season + np.arange(horizon)] for o in origins])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence notes
        ets = np.stack([ExponentialSmoothing(
            values[max(0, o - 520):o], trend="add", seasonal="add",
            seasonal_periods=52).fit().forecast(horizon) for o in origins])
    scores = {name: forecast_scores(f, truth, scale)
              for name, f in (("deepnet", ours), ("seasonal naive", naive), ("ETS", ets))}
    print("co2 test MASE: " + ", ".join(f"{k} {v['mase']:.4f}" for k, v in scores.items()))
    assert scores["deepnet"]["mase"] <= 0.8 * scores["seasonal naive"]["mase"]
    assert scores["deepnet"]["mase"] <= scores["ETS"]["mase"]
    assert "Forecast against the truth" in (run.path / "report.html").read_text()


# ----------------------------------------------------------------------------- speech
def mfcc_baseline(prepared):
    """Logistic regression on the mean and standard deviation of each clip's 20 MFCCs
    (librosa, at the run's sample rate, 25 ms windows, 10 ms hops), its C chosen on the
    validation voices: (val accuracy, test accuracy)."""
    import librosa
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ds, rate = prepared.dataset, prepared.encoding.sample_rate
    feats = np.stack([np.concatenate([m.mean(1), m.std(1)]) for m in (
        librosa.feature.mfcc(y=w, sr=rate, n_mfcc=20, n_fft=int(0.025 * rate),
                             hop_length=int(0.01 * rate), n_mels=40) for w in ds.x)])
    tr, va, te = (prepared.splits[k] for k in ("train", "val", "test"))
    best = None
    for c in (0.01, 0.1, 1.0, 10.0):
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
        clf.fit(feats[tr], ds.y[tr])
        scores = clf.score(feats[va], ds.y[va]), clf.score(feats[te], ds.y[te])
        best = max(best or scores, scores)
    return best


def test_speech_recognises_digits_of_unseen_voices(tmp_path, capsys):
    import deepnet

    run, prepared = train_example("speech", tmp_path, capsys)
    groups = prepared.dataset.split_groups
    train_voices = set(groups[prepared.splits["train"]])
    assert train_voices.isdisjoint(groups[prepared.splits["test"]])
    accuracy = run.results.test["accuracy"]
    _, baseline = mfcc_baseline(prepared)
    print(f"speech: test accuracy on unseen voices {accuracy:.4f}, MFCC + logistic "
          f"regression {baseline:.4f}")
    assert accuracy >= 0.95 and accuracy > baseline
    findings = deepnet.diagnose(run)  # healthy, as every example (test_diagnose_examples)
    assert all(f.severity == "info" for f in findings), findings


def test_logmel_matches_librosa():
    import librosa

    from deepnet.nn.spectral import LogMel, LogMelArgs

    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((3, 12000))).astype(np.float32)
    for a in (LogMelArgs(mels=40, sample_rate=8000), LogMelArgs(
            mels=64, sample_rate=16000, window=0.032, hop=0.016, fmin=50, fmax=7000)):
        ours = np.exp(LogMel(a)(torch.as_tensor(x)).numpy()[:, 0].astype(np.float64)) - 1e-6
        for i in range(3):
            ref = librosa.feature.melspectrogram(
                y=x[i], sr=a.sample_rate, n_fft=a.n_fft, hop_length=a.hop_length,
                n_mels=a.mels, fmin=a.fmin, fmax=a.fmax, htk=True, norm=None,
                pad_mode="constant")
            assert ours[i].shape == ref.shape
            np.testing.assert_allclose(ours[i], ref, rtol=1e-3, atol=1e-6 * ref.max())
