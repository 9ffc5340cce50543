"""Time series (`data.series`): one or more series become forecasting windows.

Each sample is `window` consecutive steps of the series' columns, and its target the next
`horizon` values of the `target` column. The split is by time and never shuffled: the
last `split.test` share of the steps is the test period, the `split.val` share before it
the validation period; a window belongs to the part in which its first forecast step
falls (its inputs may reach back into the earlier part, as a forecast's do), and a
training window's forecast steps all lie in the training period.

Values are put on one scale before anything is learnt, from the training period only:
each window is taken relative to its last value (its level) and divided by the column's
scale, the mean absolute error of the seasonal naive forecast (`season` steps back) over
the training period. So a network forecasts changes in units of that error: the mean
absolute error of its scaled outputs *is* MASE, and the forecast in the series' units
is output * scale + level (SeriesEncoding.decode).
"""

from __future__ import annotations

import numpy as np

from deepnet.core.errors import DataError
from deepnet.core.lazy import lazy
from deepnet.data.checks import shown
from deepnet.data.dataset import Dataset
from deepnet.data.encoding import SeriesEncoding

pd = lazy("pandas")


def series_values(frame: pd.DataFrame, columns: list[str] | None, target: str | None,
                  where: str) -> tuple[np.ndarray, list[str], str]:
    """(values (T, columns) as float64, the columns, the target) of a series table
    (columns: default every numeric one; target: default the first); a DataError naming
    the column and rows of any value that is missing or not a number."""
    columns = list(columns) if columns else [
        c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    if not columns:
        raise DataError(f"{where}: no numeric column to read as a series; name them with "
                        "data.series.columns")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: data.series.columns names {', '.join(map(repr, missing))}, "
                        f"which the data do not have; they have "
                        f"{', '.join(map(repr, list(frame.columns)[:30]))}")
    target = target or columns[0]
    if target not in columns:
        columns = [target, *columns]
    if target not in frame.columns:
        raise DataError(f"{where}: data.series.target {target!r} is not a column; the data "
                        f"have {', '.join(map(repr, list(frame.columns)[:30]))}")
    values = np.empty((len(frame), len(columns)))
    for j, c in enumerate(columns):
        v = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(v))
        if len(bad):
            i = bad[0]
            raise DataError(f"{where}: series {c!r} has {len(bad)} value(s) that are missing "
                            f"or not finite numbers, first at row {i} ({shown(frame[c].iloc[i])}); "
                            "fill or interpolate them (a series needs every step)")
        values[:, j] = v
    return values, columns, target


def windows(values: np.ndarray, columns: list[str], target: str, cfg, split, where: str
            ) -> Dataset:
    """The forecasting windows of a series (see the module's doc) as a Dataset with the
    split by time (`split`: the val and test shares of the steps)."""
    steps = len(values)
    window, horizon = cfg.window, cfg.horizon
    need = window + horizon
    test_from = steps - int(round(split.test * steps))
    val_from = test_from - int(round(split.val * steps))
    if val_from - need < cfg.season + 1 or steps < need:
        raise DataError(f"{where}: series {target!r} has {steps} steps; windows of "
                        f"{window} plus a horizon of {horizon} need at least {need}, and the "
                        f"training period (the first {val_from} steps) must hold one window "
                        f"and more than a season ({cfg.season}); lower window or horizon, or "
                        "the val and test shares")
    train_part = values[:val_from]
    season = cfg.season
    scale = np.abs(train_part[season:] - train_part[:-season]).mean(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    encoding = SeriesEncoding(columns, target, window, horizon, season,
                              [float(s) for s in scale])
    origins = np.arange(window, steps - horizon + 1, cfg.stride)  # the first forecast step
    parts = np.where(origins >= test_from, 2, np.where(origins >= val_from, 1, 0))
    keep = (parts != 0) | (origins + horizon <= val_from)  # training forecasts stay in it
    keep &= (parts != 1) | (origins + horizon <= test_from)
    origins, parts = origins[keep], parts[keep]
    idx = origins[:, None] + np.arange(-window, 0)[None, :]
    x, levels = encoding.inputs(values[idx])
    t = columns.index(target)
    ahead = values[origins[:, None] + np.arange(horizon)[None, :], t]
    y = ((ahead - levels[:, None]) / scale[t]).astype(np.float32)
    splits = {name: np.flatnonzero(parts == k) for k, name in enumerate(("train", "val", "test"))}
    return Dataset(x, y, "regression", [], where, encoding=encoding, splits=splits,
                   levels=levels, origins=origins)


def continue_series(encoding: SeriesEncoding, frame: pd.DataFrame, where: str
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(the model's input (1, window, columns), the level (1,)) of the last `window`
    steps of a series table, to forecast the `horizon` steps after its end."""
    values, _, _ = series_values(frame, encoding.columns, encoding.target, where)
    if len(values) < encoding.window:
        raise DataError(f"{where}: series {encoding.target!r} has {len(values)} steps; the "
                        f"run forecasts from the last {encoding.window}")
    return encoding.inputs(values[None, -encoding.window:])
