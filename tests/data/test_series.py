"""data.series: forecasting windows split by time, scaled from the training period only,
forecasts back in the series' units, MASE/MAE/RMSE/sMAPE against scikit-learn and a plain
seasonal naive count, `predict` continuing a series, and bad series refused (exit 2)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error

import deepnet
from deepnet.cli import main
from deepnet.data.prepare import prepare
from deepnet.spec import Spec
from deepnet.train.metrics import forecast_scores
from factory import write_spec

SEASON = 12


def series(steps=400, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    sales = 50 + 0.05 * t + 5 * np.sin(2 * np.pi * t / SEASON) + rng.normal(0, 0.5, steps)
    price = 10 + np.cos(2 * np.pi * t / SEASON) + rng.normal(0, 0.1, steps)
    return pd.DataFrame({"sales": sales, "price": price})


def spec(path, **series_cfg):
    return Spec.from_dict({
        "task": "forecast",
        "data": {"source": str(path), "series": {"columns": ["sales", "price"],
                                                 "window": 24, "horizon": 6,
                                                 "season": SEASON, **series_cfg}},
        "model": {"layers": [{"flatten": {}}, {"dense": {"units": 32, "activation": "relu"}},
                             {"dense": 6}]},
        "train": {"epochs": 25, "batch_size": 32, "early_stopping": None,
                  "optimizer": {"name": "adam", "lr": 0.005}}})


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "sales.csv"
    series().to_csv(path, index=False)
    return path


def test_windows_split_by_time_and_scaled_from_the_training_period(csv, tmp_path):
    frame = series()
    p = prepare(spec(csv))
    ds, enc = p.dataset, p.encoding
    steps, val_from, test_from = 400, 400 - 60 - 60, 400 - 60
    origins = {k: ds.origins[v] for k, v in p.splits.items()}
    assert (origins["train"] + 6 <= val_from).all()  # forecasts of training stay in it
    assert ((origins["val"] >= val_from) & (origins["val"] + 6 <= test_from)).all()
    assert (origins["test"] >= test_from).all() and origins["test"].max() == steps - 6
    assert ds.x.shape[1:] == (24, 2) and ds.y.shape[1:] == (6,)
    train = frame.to_numpy()[:val_from]
    scale = np.abs(train[SEASON:] - train[:-SEASON]).mean(axis=0)
    assert np.allclose(enc.scale, scale)
    # back in the series' units: the true next values
    i = p.splits["test"][5]
    o = ds.origins[i]
    assert np.allclose(enc.decode(ds.y[i:i + 1], ds.levels[i:i + 1])[0],
                       frame.sales.to_numpy()[o:o + 6], atol=1e-4)
    # the test period's values change nothing learnt from the training period
    changed = frame.copy()
    changed.loc[test_from:, "sales"] += 1000
    changed.to_csv(tmp_path / "changed.csv", index=False)
    q = prepare(spec(tmp_path / "changed.csv"))
    assert q.encoding.scale == enc.scale
    assert np.array_equal(q.dataset.x[q.splits["train"]], ds.x[p.splits["train"]])
    assert np.allclose(q.preprocess.shift, p.preprocess.shift)


def test_forecast_scores_equal_scikit_learn_and_a_seasonal_naive_count():
    rng = np.random.default_rng(1)
    truth, forecast = rng.normal(100, 5, (40, 6)), rng.normal(100, 5, (40, 6))
    s = forecast_scores(forecast, truth, scale=2.5)
    assert s["mae"] == pytest.approx(mean_absolute_error(truth.ravel(), forecast.ravel()))
    assert s["rmse"] == pytest.approx(np.sqrt(mean_squared_error(truth.ravel(),
                                                                 forecast.ravel())))
    assert s["mase"] == pytest.approx(s["mae"] / 2.5)
    smape = np.mean([abs(f - a) / ((abs(a) + abs(f)) / 2)
                     for f, a in zip(forecast.ravel(), truth.ravel(), strict=True)]) * 100
    assert s["smape"] == pytest.approx(smape)


def test_train_forecast_and_predict_continue_the_series(csv, tmp_path, capsys):
    run = deepnet.train(spec(csv), out=tmp_path / "run", quiet=True, report=False)
    test = run.results.test
    assert {"mase", "mae", "rmse", "smape"} <= set(test)
    assert test["mase"] == pytest.approx(test["mae"] / run.encoding.scale[0], rel=1e-5)
    p = prepare(run.spec)
    idx = p.splits["test"]
    o = p.dataset.origins[idx]
    naive = series().sales.to_numpy()[o[:, None] - SEASON + np.arange(6)]
    truth = series().sales.to_numpy()[o[:, None] + np.arange(6)]
    assert test["mase"] < forecast_scores(naive, truth, run.encoding.scale[0])["mase"]
    history = series().iloc[:300]
    ahead = run.forecast(history)
    assert ahead.shape == (6,)
    assert np.array_equal(run.predict(history), ahead)
    assert np.allclose(run.forecast(history[["sales", "price"]].to_numpy()), ahead)
    history.to_csv(tmp_path / "history.csv", index=False)
    assert main(["predict", str(run.path), str(tmp_path / "history.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "step,forecast" and len(lines) == 7
    assert np.allclose([float(x.split(",")[1]) for x in lines[1:]], ahead, rtol=1e-5)
    with pytest.raises(deepnet.DataError, match="has 10 steps; the run forecasts from the "
                                                 "last 24"):
        run.forecast(history.iloc[:10])


def test_bad_series_exit_2_naming_the_series(csv, tmp_path, capsys):
    short = tmp_path / "short.csv"
    series(30).to_csv(short, index=False)
    path = write_spec(tmp_path / "s.yaml", spec(short).to_dict())
    assert main(["train", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "series 'sales' has 30 steps" in err and "Traceback" not in err
    gappy = series()
    gappy.loc[7, "price"] = np.nan
    gappy.to_csv(tmp_path / "gappy.csv", index=False)
    with pytest.raises(deepnet.DataError, match="series 'price' has 1 value.* row 7"):
        prepare(spec(tmp_path / "gappy.csv"))
    with pytest.raises(deepnet.DataError, match="data.series.columns names 'sale'"):
        prepare(Spec.from_dict({**spec(csv).to_dict(), "data": {
            "source": str(csv), "series": {"columns": ["sale"]}}}))
    with pytest.raises(deepnet.SpecError, match="task: forecast needs data.series"):
        Spec.from_dict({"task": "forecast", "data": {"source": str(csv)},
                        "model": {"layers": [{"dense": 1}]}})
    plain = Spec.from_yaml("examples/breast_cancer.yaml", ["task=regression",
                                                           "train.metrics=[mase]"])
    with pytest.raises(deepnet.DeepnetError, match="mase is of a series' windows"):
        deepnet.train(plain, out=tmp_path / "m", quiet=True)
