"""The UCR/UEA time-series classification sets that aeon ships inside its package
(GunPoint, ItalyPowerDemand, ArrowHead: univariate, of equal length), each with the
archive's own train/test split, as .npz files of x (N, steps) and y (the class labels):
examples/data/ucr/<Name>_TRAIN.npz and <Name>_TEST.npz. Nothing is downloaded and aeon is
not imported: its data files are read where pip put them (`pip install --no-deps aeon`,
which `make setup` does; aeon's own pins of pandas and numba conflict with ours).

    .venv/bin/python examples/data/make_ucr.py

The .ts format: comment lines (#), header lines (@...), then after @data one series per
line, `v1,v2,...,vn:label`. Licence: the UCR archive's, for research (Dau et al., 2019).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

SETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead")
OUT = Path(__file__).parent / "ucr"


def aeon_data() -> Path:
    spec = importlib.util.find_spec("aeon")
    if spec is None or spec.origin is None:
        sys.exit("make_ucr.py needs aeon's data files: .venv/bin/pip install --no-deps "
                 "-c constraints.txt aeon")
    return Path(spec.origin).parent / "datasets" / "data"


def read_ts(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(x (N, steps) float32, y (N,) str) of a univariate, equal-length .ts file."""
    rows, labels, data = [], [], False
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("@data"):
            data = True
            continue
        if not data or line.startswith("@"):
            continue
        values, label = line.rsplit(":", 1)
        rows.append([float(v) for v in values.split(",")])
        labels.append(label.strip())
    if len({len(r) for r in rows}) != 1:
        raise SystemExit(f"{path}: series of unequal length")
    return np.asarray(rows, np.float32), np.asarray(labels)


def main() -> None:
    folder = aeon_data()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in SETS:
        for part in ("TRAIN", "TEST"):
            x, y = read_ts(folder / name / f"{name}_{part}.ts")
            np.savez(OUT / f"{name}_{part}.npz", x=x, y=y)
            print(f"wrote {OUT / f'{name}_{part}.npz'}: {len(y)} series of {x.shape[1]} "
                  f"steps, {len(set(y))} classes")


if __name__ == "__main__":
    main()
