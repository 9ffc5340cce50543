"""Folders of files by class, root/<class>/<file>, as image and sound folders are read
(deepnet.data.images, deepnet.data.audio): classes are the subfolders in sorted order,
rows the files class by class, each class's in sorted order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepnet.core.errors import DataError
from deepnet.data.checks import check_classes, check_not_empty


@dataclass(frozen=True)
class Kind:
    """A kind of file folder: its files' suffixes and its name in messages."""

    extensions: tuple[str, ...]
    files: str  # "images", "sound files"
    folder: str  # "an image folder"

    def files_in(self, folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                      and p.suffix.lower() in self.extensions)

    @property
    def pattern(self) -> str:
        return "root/<class>/*." + "|".join(e.lstrip(".") for e in self.extensions)


def subfolders(root: Path) -> list[Path]:
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def list_folder(root: Path, kind: Kind) -> tuple[list[Path], list[str], list[str]]:
    """(file paths, their class names, the class names) of root/<class>/*."""
    classes = [d.name for d in subfolders(root)]
    if not classes:
        loose = len(kind.files_in(root))
        raise DataError(f"{root}: {kind.folder} holds one subfolder per class ({kind.pattern}); "
                        "found no subfolders"
                        + (f" but {loose} {kind.files} at the top" if loose else ""))
    paths, labels = [], []
    for c in classes:
        files = kind.files_in(root / c)
        paths += files
        labels += [c] * len(files)
    return paths, labels, classes


def find_files(root: Path, kind: Kind) -> tuple[list[Path], list[str] | None]:
    """Files to predict: root/*, or root/<class>/* with their class names."""
    if not root.is_dir():
        raise DataError(f"{str(root)!r} is not a folder of {kind.files}")
    loose = kind.files_in(root)
    if loose or not subfolders(root):
        return loose, None
    paths, labels, _ = list_folder(root, kind)
    return paths, labels


def class_folder(root: Path, kind: Kind, task: str | None
                 ) -> tuple[list[Path], np.ndarray, list[str]]:
    """(file paths, class index of each, class names) of a folder to train on, checked:
    classes only, some files, at least two classes."""
    where = str(root)
    if task == "regression":
        raise DataError(f"{where}: {kind.folder} gives classes (its subfolders); "
                        "set task: classification or leave task out")
    paths, labels, classes = list_folder(root, kind)
    check_not_empty(len(paths), where,
                    f"{kind.files} ({', '.join(kind.extensions)}) in its class folders")
    check_classes(classes, where, f"the folder (one subfolder of {kind.files} per class)",
                  f"add a subfolder of {kind.files} for each other class")
    index = {c: i for i, c in enumerate(classes)}
    return paths, np.asarray([index[c] for c in labels], dtype=np.int64), classes
