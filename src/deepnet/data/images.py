"""Image folders: root/<class>/*.png|jpg|jpeg, as (channels, height, width) in [0, 1].

Classes are the subfolders in sorted order; rows are the images class by class, each
class's files in sorted order (row i of the source is the i-th of that list). Without
`data.image_size` every image must have the same size; with it, each is resized
(bilinear). `data.channels` is 1 (grayscale) or 3 (RGB), by default that of the first
image. Large folders stay on disk (ImageFiles) and are decoded batch by batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepnet.core.errors import DataError
from deepnet.data import folders
from deepnet.data.batches import STREAM_BYTES
from deepnet.data.dataset import Dataset
from deepnet.data.encoding import ImageEncoding
from deepnet.data.split import file_groups

EXTENSIONS = (".png", ".jpg", ".jpeg")
IMAGES = folders.Kind(EXTENSIONS, "images", "an image folder")
_GRAY = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


def list_folder(root: Path) -> tuple[list[Path], list[str], list[str]]:
    """(image paths, their class names, the class names) of root/<class>/*.png."""
    return folders.list_folder(root, IMAGES)


def find_images(root: Path) -> tuple[list[Path], list[str] | None]:
    """Images to predict: root/*.png, or root/<class>/*.png with their class names."""
    return folders.find_files(root, IMAGES)


def _size(image_size) -> tuple[int, int] | None:
    if image_size is None:
        return None
    return (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)


def probe(path: Path, verify: bool = False) -> tuple[str, tuple[int, int]]:
    """(mode, (height, width)) from the image's header, with `verify` after checking the
    whole file; DataError when it is no image or a damaged one."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            head = im.mode, (im.height, im.width)
            if verify:
                im.verify()
            return head
    except Exception as e:  # verify raises many kinds for a damaged file
        raise DataError(f"{path}: cannot decode the image ({e}); remove or replace the file") \
            from None


def _sizes_differ(where: str, path: Path, hw, first: Path, first_hw) -> DataError:
    return DataError(f"{where}: images differ in size: {path} is {hw[0]}x{hw[1]} but {first} "
                     f"is {first_hw[0]}x{first_hw[1]} (height x width); set data.image_size "
                     "(e.g. image_size: 32) to resize them all")


def decode(path, size: tuple[int, int] | None, channels: int, where: str | None = None
           ) -> np.ndarray:
    """One image (a path, or a file object named `where` in messages) as float32
    (channels, height, width) in [0, 1]; resized to `size`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if size is not None and (im.height, im.width) != size:
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError,
            Image.DecompressionBombError) as e:
        raise DataError(f"{where or path}: cannot decode the image ({e}); remove or replace "
                        "the file") from None
    return a[None] if channels == 1 else a.transpose(2, 0, 1)


class ImageFiles:
    """Images left on disk, read like an array of shape (N, channels, height, width)."""

    dtype = np.dtype(np.float32)

    def __init__(self, paths: list[Path], size: tuple[int, int], channels: int):
        self.paths, self.size, self.channels = list(paths), size, channels
        self.shape = (len(self.paths), channels, *size)
        self.ndim = 4

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, int | np.integer):
            return decode(self.paths[int(key)], self.size, self.channels)
        idx = range(len(self.paths))[key] if isinstance(key, slice) else np.asarray(key)
        out = np.empty((len(idx), *self.shape[1:]), np.float32)
        for j, i in enumerate(idx):
            out[j] = decode(self.paths[int(i)], self.size, self.channels)
        return out


def read_images(paths: list[Path], size: tuple[int, int] | None, channels: int,
                where: str) -> np.ndarray:
    """Decode every image (at least one) into one array; all of one size unless `size`
    is given."""
    out = [decode(paths[0], size, channels)]
    for p in paths[1:]:
        a = decode(p, size, channels)
        if a.shape != out[0].shape:
            raise _sizes_differ(where, p, a.shape[1:], paths[0], out[0].shape[1:])
        out.append(a)
    return np.stack(out)


def load_images(data, root: Path, task: str | None = None) -> Dataset:
    where = str(root)
    paths, y, classes = folders.class_folder(root, IMAGES, task)
    size = _size(data.image_size)
    mode, first_size = probe(paths[0])
    channels = data.channels or (1 if mode in _GRAY else 3)
    estimate = len(paths) * channels * int(np.prod(size or first_size)) * 4
    if data.stream or estimate > STREAM_BYTES:
        for p in paths:  # every file is checked before training, not in the middle of it
            hw = probe(p, verify=True)[1]
            if size is None and hw != first_size:
                raise _sizes_differ(where, p, hw, paths[0], first_size)
        x = ImageFiles(paths, size or first_size, channels)
    else:
        x = read_images(paths, size, channels, where)
    encoding = ImageEncoding(tuple(x.shape[2:]), channels)
    return Dataset(x, y, "classification", classes, where, encoding=encoding,
                   split_groups=file_groups(paths, data.split.groups, where))
