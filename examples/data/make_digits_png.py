"""Writes examples/data/digits_png/<digit>/<n>.png: scikit-learn's 8x8 digits (shipped
inside scikit-learn, nothing is downloaded) as 8-bit grayscale PNG files in class
folders, for the image-folder example (examples/images.yaml); and
examples/data/digits_inputs.npz, the last 20 digits as raw inputs (x: pixels in [0, 1],
shape (20, 1, 8, 8)) to try `deepnet predict RUN examples/data/digits_inputs.npz` on a
run of examples/digits.yaml.

    python examples/data/make_digits_png.py     # the same files every time
"""

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from deepnet.data.sources import sklearn_data_file


def main() -> None:
    raw = np.loadtxt(sklearn_data_file("digits.csv.gz"), delimiter=",")
    pixels = np.round(raw[:, :-1] / 16.0 * 255).astype(np.uint8).reshape(-1, 8, 8)
    labels = raw[:, -1].astype(int)
    root = Path(__file__).with_name("digits_png")
    shutil.rmtree(root, ignore_errors=True)
    for i, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(folder / f"{i:04d}.png", optimize=True)
    print(f"wrote {len(labels)} images to {root}")
    inputs = Path(__file__).with_name("digits_inputs.npz")
    np.savez(inputs, x=(raw[-20:, :-1] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8))
    print(f"wrote 20 raw inputs to {inputs}")


if __name__ == "__main__":
    main()
