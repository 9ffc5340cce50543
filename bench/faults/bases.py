"""The clean base specs the faults are planted in, and the data files some of them read.

Each base is small enough for a run of about a second on one core: few epochs, small
widths, deepnet's default early stopping (patience 5, best weights kept). Bases are plain
spec dicts; `specs(base, seed, files)` fills in the seed and the generated files.

Generated data (written once per benchmark into its temporary folder, never into the
repository): two interleaving half-moons (scikit-learn's make_moons: a problem no linear
model solves), and subsets of the digits as tables for the small-data and label-noise
plants (deepnet has no option to subsample a source).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MOONS_ROWS = 1000
MOONS_NOISE = 0.2  # the two moons overlap a little: about 97% is reachable
SMALL_ROWS = 143  # about 100 training rows after the default 15% / 15% split
MEMORISE_ROWS = 400  # the memorisation case: 400 digits rows
LABEL_NOISE = 0.4  # share of digits labels replaced by another class, uniformly
DATA_SEED = 20240614  # one draw of every generated file, the same in every run


def _write_table(path: Path, x: np.ndarray, y: np.ndarray, prefix: str) -> str:
    cols = [f"{prefix}{i}" for i in range(x.shape[1])]
    lines = [",".join([*cols, "target"])]
    lines += [",".join([*(f"{v:g}" for v in row), str(int(t))]) for row, t in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def write_data(folder: Path) -> dict[str, str]:
    """The generated data files, by name: moons, digits_small, digits_400, digits_noisy."""
    from sklearn.datasets import load_digits, make_moons

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(DATA_SEED)
    xm, ym = make_moons(MOONS_ROWS, noise=MOONS_NOISE, random_state=DATA_SEED % 2**31)
    x, y = load_digits(return_X_y=True)
    order = rng.permutation(len(y))
    noisy = y.copy()
    flip = rng.random(len(y)) < LABEL_NOISE
    noisy[flip] = (y[flip] + rng.integers(1, 10, flip.sum())) % 10  # another class
    return {
        "moons": _write_table(folder / "moons.csv", xm, ym, "x"),
        "digits_small": _write_table(folder / "digits_small.csv", x[order[:SMALL_ROWS]],
                                     y[order[:SMALL_ROWS]], "p"),
        "digits_400": _write_table(folder / "digits_400.csv", x[order[:MEMORISE_ROWS]],
                                   y[order[:MEMORISE_ROWS]], "p"),
        "digits_noisy": _write_table(folder / "digits_noisy.csv", x, noisy, "p"),
    }


def _spec(name: str, source: str, layers: list, epochs: int, lr: float, batch: int = 64) -> dict:
    return {"name": name, "seed": 0, "task": "classification", "data": {"source": source},
            "model": {"layers": layers},
            "train": {"epochs": epochs, "batch_size": batch,
                      "optimizer": {"name": "adam", "lr": lr}}}


def _dense(units: int, activation: str = "relu") -> dict:
    return {"dense": {"units": units, "activation": activation}}


# The bases of the issue, by name: fn(files) -> spec dict (seed 0).
BASES = {
    "mlp_digits": lambda files: _spec(
        "mlp-digits", "digits", [{"flatten": {}}, _dense(64), {"dense": {"units": 10}}], 20, 3e-3),
    "mlp_cancer": lambda files: _spec(
        "mlp-cancer", "breast_cancer", [_dense(32), _dense(16), {"dense": {"units": 2}}], 30, 3e-3,
        batch=32),
    "cnn_digits": lambda files: _spec(
        "cnn-digits", "digits",
        [{"conv2d": {"filters": 8, "kernel": 3, "activation": "relu"}}, {"maxpool2d": 2},
         {"flatten": {}}, _dense(32), {"dense": {"units": 10}}], 12, 3e-3),
    "mlp_moons": lambda files: _spec(
        "mlp-moons", files["moons"], [_dense(32), _dense(32), {"dense": {"units": 2}}], 30, 1e-2,
        batch=32),
    "gru_digits": lambda files: _spec(  # the 8 rows of a digit read as 8 steps of 8 pixels
        "gru-digits", "digits", [{"reshape": [8, 8]}, {"gru": {"units": 32}},
                                 {"dense": {"units": 10}}], 15, 1e-2),
}


def base_spec(base: str, seed: int, files: dict[str, str]) -> dict:
    spec = BASES[base](files)
    spec["seed"] = seed
    spec["name"] = f"{spec['name']}-s{seed}"
    return spec


def hidden_layers(spec: dict) -> list[tuple[int, str]]:
    """(index, type) of the hidden affine layers of a flat layer list: every dense/conv but
    the last (the output)."""
    affine = [(i, next(iter(item))) for i, item in enumerate(spec["model"]["layers"])
              if next(iter(item)) in ("dense", "conv1d", "conv2d")]
    return affine[:-1]


def set_hidden(spec: dict, key: str, value) -> dict:
    """Changes setting `key` (activation, init, units...) of every hidden affine layer."""
    return {f"model.layers[{i}].{kind}.{key}": value for i, kind in hidden_layers(spec)}
