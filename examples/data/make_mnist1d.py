"""MNIST-1D (Greydanus and Kobak, 2020): 5,000 signals of 40 steps, each one of the ten
digits' 1-D templates padded, scaled, translated, sheared and made noisy; generated here
by the `mnist1d` package's own procedure with its default arguments (seed 42: the set the
paper uses, 4,000 for training and 1,000 for test, nothing downloaded), written as .npz
files of x (N, 40) float32 and y (N,) int64: examples/data/mnist1d/train.npz, test.npz.

    .venv/bin/python examples/data/make_mnist1d.py

Licence: Apache-2.0 (the mnist1d package).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).parent / "mnist1d"


def main() -> None:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        sys.exit("make_mnist1d.py needs the mnist1d package: make setup, or .venv/bin/pip "
                 "install -c constraints.txt mnist1d")
    data = make_dataset(get_dataset_args())
    OUT.mkdir(parents=True, exist_ok=True)
    for part, (x, y) in {"train": (data["x"], data["y"]),
                         "test": (data["x_test"], data["y_test"])}.items():
        np.savez(OUT / f"{part}.npz", x=x.astype(np.float32), y=y.astype(np.int64))
        print(f"wrote {OUT / f'{part}.npz'}: {len(y)} signals of {x.shape[1]} steps")


if __name__ == "__main__":
    main()
